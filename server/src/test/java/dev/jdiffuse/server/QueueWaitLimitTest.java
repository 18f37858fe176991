package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --max-queue-seconds}: a job that waits that long without starting is cancelled unstarted with reason
 * {@code expired} (the GPU never spends time on it), the job running ahead of it is untouched, a job that starts in
 * time runs to its end however long it runs, and without the flag nothing expires.
 */
class QueueWaitLimitTest {

    @Test
    void aJobThatWaitsTooLongIsCancelledUnstarted() throws Exception {
        ServerOptions o = ServerOptions.defaults();
        try (TestServer ts = new TestServer(o.withSafety(o.safety().withMaxQueueWait(Duration.ofMillis(400))),
                new ScriptedPipeline(50))) {
            String running = ts.submit("{\"prompt\":\"long\",\"steps\":30}");   // about 1.5 s
            String waiting = ts.submit("{\"prompt\":\"behind\",\"steps\":1}");
            JsonNode expired = ts.await(waiting, Duration.ofSeconds(5));
            assertEquals("cancelled", expired.get("status").asText(), expired.toString());
            assertEquals("expired", expired.at("/error/code").asText(), expired.toString());
            assertTrue(expired.at("/error/message").asText().contains("without starting"), expired.toString());
            assertEquals("running", ts.get("/v1/generations/" + running).json().get("status").asText(),
                    "the running job is not touched");
            JsonNode done = ts.await(running, Duration.ofSeconds(10));
            assertEquals("succeeded", done.get("status").asText(), "it started in time, and runs past the limit");
            String metrics = new String(ts.get("/metrics").raw().body());
            assertEquals(1.0, MetricsText.sum(metrics, "jdiffuse_jobs_total", "reason=\"expired\""), metrics);
            assertEquals(0, ts.pipeline.runsOf("behind"), "the expired job never reached the pipeline");
        }
    }

    @Test
    void withoutTheFlagAJobWaitsAsLongAsItTakes() throws Exception {
        try (TestServer ts = new TestServer(50)) {
            String running = ts.submit("{\"prompt\":\"long\",\"steps\":16}");
            String waiting = ts.submit("{\"prompt\":\"behind\",\"steps\":1}");
            assertEquals("succeeded", ts.await(running, Duration.ofSeconds(10)).get("status").asText());
            assertEquals("succeeded", ts.await(waiting, Duration.ofSeconds(10)).get("status").asText());
        }
    }
}
