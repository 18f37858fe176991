package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 2 over real HTTP: requests are costed from the step time measured on this server and refused
 * beyond {@code --max-job-seconds} (400 naming the fields and the estimate); a running job is cancelled at its
 * deadline (reason {@code deadline}); {@code Retry-After} follows the measured drain rate.
 */
class CostBudgetTest {

    @Test
    void costEstimateAndDeadline() throws Exception {
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS.withMaxJobSeconds(1.0));
        try (TestServer ts = new TestServer(options, new ScriptedPipeline(25))) {
            // not measured yet: accepted, and its deadline stops it (100 steps x 25 ms = 2.5 s > 1 s)
            String long1 = ts.submit("{\"steps\":100}");
            JsonNode stopped = ts.await(long1, Duration.ofSeconds(10));
            assertEquals("cancelled", stopped.get("status").asText());
            assertEquals("deadline", stopped.at("/error/code").asText());
            assertTrue(stopped.at("/step").asInt() < 100, "stopped early");
            assertTrue(stopped.at("/timings/run_ms").asLong() < 2000, stopped.toString());

            // a small job measures the device: 25 ms a step at 64x64
            ts.await(ts.submit("{\"steps\":4}"), Duration.ofSeconds(5));
            TestServer.Reply heavy = ts.post("/v1/generations", "{\"width\":512,\"height\":512,\"steps\":40,"
                    + "\"batch_size\":4}");
            assertEquals(400, heavy.status(), () -> new String(heavy.raw().body()));
            assertEquals("too_costly", heavy.errorCode());
            assertEquals("steps", heavy.errorField());
            String message = heavy.json().at("/error/message").asText();
            assertTrue(message.contains("estimated") && message.contains("width 512") && message.contains("steps 40")
                    && message.contains("batch_size 4"), message);
            double estimate = Double.parseDouble(message.replaceAll("^estimated ([0-9.]+) s.*", "$1"));
            assertTrue(estimate > 100 && estimate < 1000, "512x512x40x4 = 2560 times 64x64x4 at ~0.1 s: " + estimate);
            assertEquals(202, ts.post("/v1/generations", "{\"steps\":8}").status(), "0.2 s fits");
        }
    }

    @Test
    void retryAfterFollowsTheMeasuredDrainRate() throws Exception {
        try (TestServer ts = new TestServer(ServerOptions.defaults().withQueueSize(2), new ScriptedPipeline(0))) {
            for (int i = 0; i < 6; i++) {
                ts.await(ts.submit("{\"steps\":1}"), Duration.ofSeconds(5));
            }
            ts.submitHeld("{\"prompt\":\"hold\",\"steps\":2}");
            ts.submit("{\"steps\":1}");
            ts.submit("{\"steps\":1}");
            TestServer.Reply full = ts.post("/v1/generations", "{\"steps\":1}");
            assertEquals(429, full.status());
            assertEquals("1", full.header("Retry-After"), "jobs have been ending within milliseconds");
        }
    }
}
