package dev.jdiffuse.server;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 6 over real HTTP: a bare over-limit {@code Content-Length} is refused at once, and many slow
 * upload senders neither hold the server's threads (beyond the concurrent-upload cap they are refused at once,
 * below it they are cut off by the minimum data rate) nor delay {@code /healthz}.
 */
class SlowClientTest {

    @Test
    void anOverLimitContentLengthIsRefusedBeforeReading() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            for (String path : new String[] {"/v1/uploads", "/v1/generations"}) {
                long t0 = System.nanoTime();
                try (Socket s = new Socket("127.0.0.1", ts.server.port())) {
                    s.setSoTimeout(10_000);
                    s.getOutputStream().write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                            + "application/json\r\nContent-Length: 999999999\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
                    RawHttp.Response r = RawHttp.read(s.getInputStream());
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    assertEquals(413, r.status(), path);
                    assertEquals("too_large", r.json().at("/error/code").asText());
                    assertTrue(ms < 2000, path + " answered after " + ms + " ms");
                }
            }
        }
    }

    @Test
    void slowSendersDoNotStarveTheServer() throws Exception {
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS.withSlowClients(4,
                Duration.ofSeconds(2)));
        int senders = 40;
        ExecutorService pool = Executors.newFixedThreadPool(senders);
        try (TestServer ts = new TestServer(options, new ScriptedPipeline(0))) {
            int port = ts.server.port();
            List<Future<Integer>> statuses = new ArrayList<>();
            for (int i = 0; i < senders; i++) {
                statuses.add(pool.submit(() -> trickle(port)));
            }
            Thread.sleep(500);
            for (int i = 0; i < 10; i++) {
                long t0 = System.nanoTime();
                assertEquals(200, ts.get("/healthz").status());
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(ms < 1000, "/healthz took " + ms + " ms among slow senders");
                Thread.sleep(200);
            }
            int busy = 0;
            int cut = 0;
            for (Future<Integer> f : statuses) {
                int status = f.get(15, TimeUnit.SECONDS);
                assertTrue(status == 503 || status == 408 || status == -1, "status " + status);
                busy += status == 503 ? 1 : 0;
                cut += status != 503 ? 1 : 0;
            }
            assertTrue(busy >= senders - 4 - 4, busy + " refused at once beyond the cap of 4");
            assertTrue(cut >= 1, "the ones being read are cut off");
            assertEquals(200, ts.get("/healthz").status());
        } finally {
            pool.shutdownNow();
        }
    }

    /** Sends an upload's headers, then 16 bytes every 500 ms; the status it got (-1: the connection was closed). */
    private static int trickle(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(12_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                    + "Content-Length: 100000\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            try {
                while (System.nanoTime() < end) {
                    if (s.getInputStream().available() > 0) {
                        break;
                    }
                    out.write(new byte[16]);
                    out.flush();
                    Thread.sleep(500);
                }
            } catch (IOException | InterruptedException e) {
                // the server closed the connection
            }
            try {
                return RawHttp.read(s.getInputStream()).status();
            } catch (IOException e) {
                return -1;
            }
        }
    }
}
