package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.jdiffuse.server.notify.Webhook;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --webhook-url}: a real receiver (the JDK's HTTP server) gets every finished job as JSON, signed with the
 * secret's HMAC, retried with the same delivery id after a 5xx; an endpoint that never answers costs the jobs nothing
 * and its events are dropped after the retries; bad flags are refused naming them.
 */
class WebhookTest {

    /** What the receiver got: headers of interest and the body. */
    record Received(String event, String delivery, String signature, byte[] body) {
    }

    @Test
    void finishedJobsArePostedSignedAndRetried() throws Exception {
        List<Received> got = new CopyOnWriteArrayList<>();
        AtomicInteger calls = new AtomicInteger();
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/hook", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            got.add(new Received(ex.getRequestHeaders().getFirst("X-Jdiffuse-Event"),
                    ex.getRequestHeaders().getFirst("X-Jdiffuse-Delivery"),
                    ex.getRequestHeaders().getFirst("X-Jdiffuse-Signature-256"), body));
            int status = calls.incrementAndGet() == 1 ? 503 : 204; // the first delivery fails once
            ex.sendResponseHeaders(status, -1);
            ex.close();
        });
        receiver.start();
        Path secret = Files.createTempFile("jdiffuse-hook", ".secret");
        Files.writeString(secret, "s3cret\n");
        URI url = URI.create("http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook");
        try (TestServer ts = new TestServer(ServerOptions.defaults().withWebhook(url, secret),
                new ScriptedPipeline(5))) {
            String ok = ts.submit("{\"prompt\":\"a\",\"steps\":2,\"width\":64,\"height\":64}");
            assertEquals("succeeded", ts.await(ok, Duration.ofSeconds(20)).get("status").asText());
            waitFor(() -> got.size() >= 2, "the retried delivery");
            Received first = got.get(0);
            Received second = got.get(1);
            assertEquals("job.finished", second.event());
            assertEquals(first.delivery(), second.delivery(), "a retry keeps the delivery id");
            assertEquals(Webhook.signature("s3cret".getBytes(StandardCharsets.UTF_8), second.body()),
                    second.signature(), "signed with the trimmed secret");
            JsonNode event = TestServer.JSON.readTree(second.body());
            assertEquals("job.finished", event.get("event").asText());
            assertEquals(ok, event.at("/job/id").asText());
            assertEquals("succeeded", event.at("/job/status").asText());
        } finally {
            receiver.stop(0);
        }
    }

    @Test
    void aDeadEndpointDropsAfterRetriesWithoutHoldingAnything() throws Exception {
        // a port nobody listens on: connection refused at once
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Webhook hook = new Webhook(URI.create("http://127.0.0.1:" + port + "/x"), null, Duration.ofMillis(10),
                Duration.ofSeconds(2));
        long t0 = System.nanoTime();
        hook.send("job.finished", "{}");
        assertTrue(System.nanoTime() - t0 < 100_000_000L, "send hands off");
        waitFor(() -> hook.dropped() == 1, "the event given up");
        assertEquals(0, hook.delivered());
        hook.close();
    }

    @Test
    void badFlagsAreRefusedNamingThem() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of("--webhook-url",
                "ftp://example.com/x"), Map.of())).getMessage().contains("--webhook-url"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ServerOptions.parse(List.of(
                "--webhook-secret-file", "/tmp/x"), Map.of())).getMessage().contains("--webhook-secret-file"));
        assertEquals(URI.create("https://hooks.example.com/j"), ServerOptions.parse(List.of("--webhook-url",
                "https://hooks.example.com/j"), Map.of()).webhookUrl());
    }

    private static void waitFor(java.util.function.BooleanSupplier c, String what) throws InterruptedException {
        long end = System.nanoTime() + 20_000_000_000L;
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }
}
