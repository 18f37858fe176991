package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.stream.StreamRoutes;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Late joiners, unknown ids, and a stalled client that must not slow generation or grow memory. */
class StreamTest {

    @Test
    void lateJoinerGetsTheCurrentStateFirst() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            String id = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":6}");
            try (WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/generations/" + id
                    + "/stream")) {
                assertEquals("subscribed", ws.next(Duration.ofSeconds(5)).type());
                WsClient.Message state = ws.next(Duration.ofSeconds(5));
                assertEquals("state", state.type());
                assertEquals("running", state.json().get("status").asText());
                assertEquals(1, state.json().get("step").asInt());
                assertEquals(6, state.json().get("total").asInt());
                ts.pipeline.release();
                List<WsClient.Message> rest = ws.untilFinal(id, Duration.ofSeconds(5));
                assertEquals("succeeded", rest.get(rest.size() - 1).json().get("status").asText());
            }
            try (WsClient after = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/generations/" + id
                    + "/stream")) {
                List<WsClient.Message> got = after.untilFinal(id, Duration.ofSeconds(5));
                assertEquals(List.of("subscribed", "state", "final"), got.stream().map(WsClient.Message::type)
                        .toList(), "a joiner after the end gets the state and the final event once");
            }
        }
    }

    @Test
    void unknownJobClosesTheSocket() throws Exception {
        try (TestServer ts = new TestServer(0);
                WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/generations/nope/stream")) {
            assertEquals(StreamRoutes.CLOSE_UNKNOWN_JOB, ws.closed.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void aStalledClientNeitherSlowsGenerationNorGrowsMemory() throws Exception {
        try (TestServer ts = new TestServer(10)) {
            String body = "{\"prompt\":\"noise-previews\",\"width\":512,\"height\":512,\"steps\":40,"
                    + "\"preview\":{\"method\":\"rgb\",\"max_size\":512}}";
            long baselineStart = System.nanoTime();
            ts.await(ts.submit(body), Duration.ofSeconds(20));
            long baseline = (System.nanoTime() - baselineStart) / 1_000_000;

            String id = ts.submit(body.replace("noise-previews\"", "noise-previews\",\"seed\":7"));
            WebSocket stalled = HttpClient.newHttpClient().newWebSocketBuilder()
                    .buildAsync(URI.create(ts.base.replace("http", "ws") + "/v1/generations/" + id + "/stream"),
                            new WebSocket.Listener() {
                                @Override
                                public void onOpen(WebSocket ws) {
                                    // never request(): the client reads nothing, the TCP window fills
                                }

                                @Override
                                public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
                                    return null;
                                }
                            }).get(5, TimeUnit.SECONDS);
            try {
                long start = System.nanoTime();
                JsonNode done = ts.await(id, Duration.ofSeconds(20));
                long took = (System.nanoTime() - start) / 1_000_000;
                assertEquals("succeeded", done.get("status").asText());
                assertTrue(took < baseline * 2 + 500, "generation took " + took + " ms with a stalled client vs "
                        + baseline + " ms without");
                String metrics = new String(ts.get("/metrics").raw().body());
                double queued = metric(metrics, "jdiffuse_ws_queued_bytes");
                assertTrue(queued <= StreamRoutes.OUTBOX_BYTES, "queued bytes bounded: " + queued);
                assertTrue(metric(metrics, "jdiffuse_ws_frames_dropped_total\\{kind=\"preview\"}") > 0,
                        "old previews were dropped for the stalled client");
            } finally {
                stalled.abort();
            }
        }
    }

    static double metric(String text, String nameRegex) {
        Matcher m = Pattern.compile("(?m)^" + nameRegex + " ([0-9.eE+-]+)$").matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : 0.0;
    }
}
