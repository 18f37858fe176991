package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * A stopping server drains: from the moment it begins, /readyz answers 503 (a load balancer stops sending) and a new
 * generation 503 shutting_down with a Retry-After, while the running job still finishes within the grace (a request
 * held for it gets its end).
 */
class DrainTest {

    @Test
    void whileRunningJobsDrainReadinessIs503AndNewJobsAreRefused() throws Exception {
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS
                .withShutdownGrace(Duration.ofSeconds(20)));
        TestServer ts = new TestServer(options, new ScriptedPipeline(5));
        try {
            assertEquals(200, ts.get("/readyz").status());
            String running = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":3}");
            CompletableFuture<Void> closing = CompletableFuture.runAsync(ts.server::close);

            TestServer.Reply ready = ts.get("/readyz");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (ready.status() == 200 && System.nanoTime() < deadline) {
                Thread.sleep(10);
                ready = ts.get("/readyz");
            }
            assertEquals(503, ready.status(), "not ready once the stop began");
            assertEquals("the server is shutting down", ready.json().get("reason").asText());

            TestServer.Reply refused = ts.post("/v1/generations", "{\"prompt\":\"late\",\"steps\":1}");
            assertEquals(503, refused.status());
            assertEquals("shutting_down", refused.json().at("/error/code").asText(), refused.json().toString());
            assertEquals("10", refused.header("Retry-After"));
            assertEquals(0, ts.pipeline.runsOf("late"));

            assertFalse(closing.isDone(), "the stop waits for the running job");
            assertEquals("running", ts.get("/v1/generations/" + running).json().get("status").asText());
            // the server stops as soon as the job ends: a long poll held now gets its end
            CompletableFuture<HttpResponse<String>> end = ts.http.sendAsync(HttpRequest.newBuilder(
                    URI.create(ts.base + "/v1/generations/" + running + "?wait=30")).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            awaitHeld(ts);
            ts.pipeline.release();
            JsonNode done = TestServer.JSON.readTree(end.get(20, TimeUnit.SECONDS).body());
            assertEquals("succeeded", done.get("status").asText(), "finished within the grace");
            closing.get(30, TimeUnit.SECONDS);
        } finally {
            ts.pipeline.release(); // the server was closed above (a second close is not asked of it)
        }
    }

    private static void awaitHeld(TestServer ts) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        double held = 0;
        while ((held = MetricsText.sum(new String(ts.get("/metrics").raw().body()), "jdiffuse_http_held_requests",
                "")) < 1 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(1.0, held, "the long poll is held before the job is released");
    }
}
