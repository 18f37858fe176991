package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PyTorch's errors as a job's outcome and the server's health: out of device memory fails that job alone (a smaller
 * one runs); a CUDA error that breaks the device fails its job and turns /healthz and /readyz to 503, so that an
 * orchestrator restarts the server (every later job on that device would fail).
 */
class DeviceFailureTest {

    @Test
    void outOfDeviceMemoryFailsTheJobAloneWithItsCode() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            JsonNode failed = ts.await(ts.submit("{\"prompt\":\"cuda-oom\",\"steps\":3}"), Duration.ofSeconds(5));
            assertEquals("failed", failed.get("status").asText());
            assertEquals("out_of_memory", failed.at("/error/code").asText(), failed.toString());
            assertTrue(failed.at("/error/message").asText().contains("Tried to allocate 20.00 GiB"), failed.toString());
            assertEquals("succeeded", ts.await(ts.submit("{\"steps\":1}"), Duration.ofSeconds(5)).get("status")
                    .asText());
            assertEquals(200, ts.get("/healthz").status());
            assertEquals(200, ts.get("/readyz").status());
        }
    }

    @Test
    void aBrokenDeviceFailsItsJobAndTheHealthChecks() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            assertEquals(0.0, metric(ts), "no failure yet");
            JsonNode failed = ts.await(ts.submit("{\"prompt\":\"cuda-fatal\",\"steps\":3}"), Duration.ofSeconds(5));
            assertEquals("device_failed", failed.at("/error/code").asText(), failed.toString());
            assertTrue(failed.at("/error/message").asText().contains("illegal memory access"), failed.toString());

            TestServer.Reply health = ts.get("/healthz");
            assertEquals(503, health.status());
            assertEquals("device_failed", health.json().get("status").asText());
            TestServer.Reply ready = ts.get("/readyz");
            assertEquals(503, ready.status());
            assertTrue(ready.json().get("reason").asText().contains("illegal memory access"), ready.json().toString());
            assertEquals(1.0, metric(ts));
            TestServer.Reply refused = ts.post("/v1/generations", "{\"prompt\":\"after\",\"steps\":1}");
            assertEquals(503, refused.status(), "a new generation would fail on the broken device");
            assertEquals("not_ready", refused.json().at("/error/code").asText());
        }
    }

    private static double metric(TestServer ts) throws Exception {
        return MetricsText.sum(new String(ts.get("/metrics").raw().body()), "jdiffuse_device_failed", "");
    }
}
