package dev.jdiffuse.server;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What a WebSocket client sends the server (reliability notes A6, D4): an oversize text message closes that socket
 * with 1009 (or resets it) and a binary one with 1003, a malformed message is answered with an error on a socket that stays open, and
 * clients that vanish mid-job leave no connection counted; the job and other clients carry on.
 */
class StreamAbuseTest {

    private static double connections(TestServer ts) throws Exception {
        return MetricsText.sum(new String(ts.get("/metrics").raw().body()), "jdiffuse_ws_connections", "");
    }

    private static void awaitConnections(TestServer ts, double n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (connections(ts) != n && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(n, connections(ts), "open WebSocket connections");
    }

    @Test
    void oversizeAndBinaryMessagesCloseOnlyTheirSocket() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            String id = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":4}");
            String url = ts.base.replace("http", "ws") + "/v1/generations/" + id + "/stream";
            try (WsClient watcher = new WsClient(ts.http, url);
                    WsClient big = new WsClient(ts.http, url);
                    WsClient binary = new WsClient(ts.http, url)) {
                awaitConnections(ts, 3);
                // just over the 64 KiB limit; the server may close before reading it all, which a slow machine's
                // client can see as a reset instead of the close frame: either way, only this socket is gone
                big.socket.sendText("{\"type\":\"subscribe\",\"id\":\"" + "x".repeat(66_000) + "\"}", true);
                try {
                    assertEquals(1009, big.closed.get(5, TimeUnit.SECONDS), "message too big");
                } catch (java.util.concurrent.ExecutionException reset) {
                    // the connection was reset under the close: closed all the same
                }
                binary.socket.sendBinary(ByteBuffer.wrap(new byte[] {1, 2, 3}), true);
                assertEquals(1003, binary.closed.get(5, TimeUnit.SECONDS), "binary is not accepted");
                awaitConnections(ts, 1);

                ts.pipeline.release();
                List<WsClient.Message> got = watcher.untilFinal(id, Duration.ofSeconds(10));
                assertEquals("succeeded", got.get(got.size() - 1).json().get("status").asText(),
                        "the other client follows the job to its end");
            }
        }
    }

    @Test
    void aMalformedMessageIsAnsweredAndTheSocketStaysOpen() throws Exception {
        try (TestServer ts = new TestServer(0);
                WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/stream")) {
            for (String bad : new String[] {"not json", "{\"type\":\"subscribe\"}", "[1,2]",
                    "{\"type\":\"explode\",\"id\":\"x\"}"}) {
                ws.socket.sendText(bad, true).get(5, TimeUnit.SECONDS);
                WsClient.Message reply = ws.next(Duration.ofSeconds(5));
                assertEquals("error", reply.type(), bad);
                assertEquals("bad_message", reply.json().get("code").asText(), bad);
            }
            String id = ts.submit("{\"steps\":2}");
            ts.await(id, Duration.ofSeconds(10));
            ws.socket.sendText("{\"type\":\"subscribe\",\"id\":\"" + id + "\"}", true).get(5, TimeUnit.SECONDS);
            List<WsClient.Message> got = ws.untilFinal(id, Duration.ofSeconds(5));
            assertEquals("succeeded", got.get(got.size() - 1).json().get("status").asText(), "still serving");
        }
    }

    @Test
    void clientsThatVanishMidJobLeaveNoConnectionBehind() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            String id = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":4}");
            String url = ts.base.replace("http", "ws") + "/v1/generations/" + id + "/stream";
            List<WsClient> clients = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                clients.add(new WsClient(ts.http, url));
            }
            awaitConnections(ts, 50);
            clients.forEach(c -> c.socket.abort()); // the TCP connection dropped, no close frame
            awaitConnections(ts, 0);
            ts.pipeline.release();
            assertEquals("succeeded", ts.await(id, Duration.ofSeconds(10)).get("status").asText());
        }
    }
}
