package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Queue order, cancellation, failures, back-pressure (429), exactly-once completion, result expiry. */
class QueueTest {

    @Test
    void cancelQueuedAtOnceAndRunningWithinOneStep() throws Exception {
        try (TestServer ts = new TestServer(10)) {
            String running = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":20}");
            String queued = ts.submit("{\"prompt\":\"queued\",\"steps\":2}");
            JsonNode q = ts.get("/v1/generations/" + queued).json();
            assertEquals("queued", q.get("status").asText());
            assertEquals(0, q.get("position").asInt());

            TestServer.Reply c1 = ts.delete("/v1/generations/" + queued);
            assertEquals(200, c1.status());
            assertEquals("cancelled", c1.json().get("status").asText());
            assertEquals(200, ts.delete("/v1/generations/" + queued).status(), "cancelling twice is a no-op");

            TestServer.Reply c2 = ts.delete("/v1/generations/" + running);
            assertEquals(202, c2.status());
            ts.pipeline.release();
            JsonNode end = ts.await(running, Duration.ofSeconds(5));
            assertEquals("cancelled", end.get("status").asText());
            assertEquals("cancelled", end.at("/error/code").asText());
            assertEquals(1, end.get("step").asInt(), "stopped at the first step boundary after the cancel");
            assertEquals(0, end.get("images").size());
            assertEquals(0, ts.pipeline.runsOf("queued"), "a cancelled queued job never runs");

            String next = ts.submit("{\"prompt\":\"after\",\"steps\":2}");
            assertEquals("succeeded", ts.await(next, Duration.ofSeconds(5)).get("status").asText());
            assertEquals(409, ts.delete("/v1/generations/" + next).status(), "a finished job cannot be cancelled");
        }
    }

    @Test
    void aFailedJobFailsAloneAndTheNextRuns() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            String bad = ts.submit("{\"prompt\":\"fail\",\"steps\":4}");
            String good = ts.submit("{\"prompt\":\"good\",\"steps\":4}");
            JsonNode failed = ts.await(bad, Duration.ofSeconds(5));
            assertEquals("failed", failed.get("status").asText());
            assertEquals("non_finite_output", failed.at("/error/code").asText());
            assertTrue(failed.at("/error/message").asText().contains("NaN"));
            assertEquals(404, ts.get("/v1/generations/" + bad + "/images/0").status());
            assertEquals("succeeded", ts.await(good, Duration.ofSeconds(5)).get("status").asText());
            assertEquals(200, ts.get("/readyz").status());
        }
    }

    @Test
    void fullQueueAnswers429WithRetryAfter() throws Exception {
        try (TestServer ts = new TestServer(ServerOptions.defaults().withQueueSize(2), new ScriptedPipeline(1))) {
            ts.submitHeld("{\"prompt\":\"hold\"}");
            ts.submit("{}");
            ts.submit("{}");
            TestServer.Reply full = ts.post("/v1/generations", "{}");
            assertEquals(429, full.status());
            assertEquals("queue_full", full.errorCode());
            assertNotNull(full.header("Retry-After"));
            assertTrue(Long.parseLong(full.header("Retry-After")) >= 1);
            ts.pipeline.release();
        }
    }

    @Test
    void fiftyConcurrentSubmittersEveryAcceptedJobCompletesExactlyOnce() throws Exception {
        try (TestServer ts = new TestServer(ServerOptions.defaults().withQueueSize(4), new ScriptedPipeline(3))) {
            int submitters = 50;
            ExecutorService pool = Executors.newFixedThreadPool(submitters);
            CountDownLatch go = new CountDownLatch(1);
            Set<String> accepted = ConcurrentHashMap.newKeySet();
            AtomicInteger rejected = new AtomicInteger();
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < submitters; i++) {
                String prompt = "p" + i;
                futures.add(pool.submit(() -> {
                    go.await();
                    TestServer.Reply r = ts.post("/v1/generations", "{\"prompt\":\"" + prompt
                            + "\",\"steps\":3}");
                    if (r.status() == 202) {
                        accepted.add(prompt + " " + r.json().get("id").asText());
                    } else {
                        assertEquals(429, r.status());
                        assertNotNull(r.header("Retry-After"));
                        rejected.incrementAndGet();
                    }
                    return null;
                }));
            }
            go.countDown();
            for (Future<?> f : futures) {
                f.get(30, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertEquals(submitters, accepted.size() + rejected.get());
            assertTrue(rejected.get() > 0, "the burst overflowed the queue of 4");
            assertTrue(accepted.size() >= 5, "at least queue + running accepted");
            for (String a : accepted) {
                String[] parts = a.split(" ");
                assertEquals("succeeded", ts.await(parts[1], Duration.ofSeconds(20)).get("status").asText());
                assertEquals(1, ts.pipeline.runsOf(parts[0]), parts[0] + " ran exactly once");
            }
            int ranTotal = ts.pipeline.runs.values().stream().mapToInt(AtomicInteger::get).sum();
            assertEquals(accepted.size(), ranTotal, "no rejected job ran");
        }
    }

    @Test
    void finishedJobsExpireAfterTheTtl() throws Exception {
        try (TestServer ts = new TestServer(ServerOptions.defaults().withResultTtl(Duration.ofMillis(300)),
                new ScriptedPipeline(0))) {
            String id = ts.submit("{\"steps\":1}");
            ts.await(id, Duration.ofSeconds(5));
            assertEquals(200, ts.get("/v1/generations/" + id + "/images/0").status());
            Thread.sleep(700);
            assertEquals(404, ts.get("/v1/generations/" + id).status());
            assertEquals(404, ts.get("/v1/generations/" + id + "/images/0").status());
            assertEquals(0, ts.server.jobs().size());
        }
    }
}
