package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.models.ModelRegistry;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A broken device among several ({@code --devices cpu,cpu}, a scripted pipeline on each): it takes no more jobs and
 * the other device runs them, the server stays ready (liveness says a restart is due); once the last device breaks,
 * readiness turns 503, new generations are refused, and the jobs still queued fail at once with {@code device_failed}
 * rather than one by one on a broken device.
 */
class DeviceFailureIsolationTest {

    @Test
    void jobsGoToTheDeviceThatStillWorksAndStrandedOnesFailAtOnce() throws Exception {
        Path models = Files.createTempDirectory("jdiffuse-two-devices");
        Files.createDirectories(models.resolve("tiny"));
        ServerOptions two = ServerOptions.defaults().withDevices(List.of("cpu", "cpu"));
        ModelRegistry registry = ModelRegistry.open(models, (entry, device, dtype) -> new ScriptedPipeline(30),
                two.devices(), "fp32", two.budget());
        try (TestServer ts = new TestServer(two, registry)) {
            assertEquals(200, ts.get("/readyz").status());
            JsonNode first = ts.await(ts.submit("{\"prompt\":\"cuda-fatal\",\"steps\":3}"), Duration.ofSeconds(10));
            assertEquals("device_failed", first.at("/error/code").asText(), first.toString());
            String broken = first.get("device").asText();
            assertEquals(503, ts.get("/healthz").status(), "a restart is due");
            assertEquals(200, ts.get("/readyz").status(), "the other device still serves");
            assertEquals(1.0, metric(ts));

            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                ids.add(ts.submit("{\"prompt\":\"after " + i + "\",\"steps\":2}"));
            }
            String working = null;
            for (String id : ids) {
                JsonNode done = ts.await(id, Duration.ofSeconds(10));
                assertEquals("succeeded", done.get("status").asText(), done.toString());
                assertTrue(!done.get("device").asText().equals(broken), "ran on the broken device: " + done);
                working = done.get("device").asText();
            }

            // the last device breaks while three jobs wait behind it
            String last = ts.submit("{\"prompt\":\"cuda-fatal\",\"steps\":3}");
            List<String> queued = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                queued.add(ts.submit("{\"prompt\":\"stranded " + i + "\",\"steps\":40}"));
            }
            JsonNode lastJob = ts.await(last, Duration.ofSeconds(10));
            assertEquals("device_failed", lastJob.at("/error/code").asText(), lastJob.toString());
            assertEquals(working, lastJob.get("device").asText());
            for (String id : queued) {
                JsonNode s = ts.await(id, Duration.ofSeconds(2)); // at once, not after 40 steps each
                assertEquals("failed", s.get("status").asText(), s.toString());
                assertEquals("device_failed", s.at("/error/code").asText(), s.toString());
                assertTrue(s.at("/error/message").asText().contains("no device can run jobs"), s.toString());
                assertTrue(s.path("started_at").isNull() || s.path("started_at").isMissingNode(), s.toString());
            }
            TestServer.Reply ready = ts.get("/readyz");
            assertEquals(503, ready.status());
            assertTrue(ready.json().get("reason").asText().contains("restart"), ready.json().toString());
            assertEquals(2.0, metric(ts));
            TestServer.Reply refused = ts.post("/v1/generations", "{\"prompt\":\"later\",\"steps\":1}");
            assertEquals(503, refused.status());
            assertEquals("not_ready", refused.json().at("/error/code").asText());
        }
    }

    private static double metric(TestServer ts) throws Exception {
        return MetricsText.sum(new String(ts.get("/metrics").raw().body()), "jdiffuse_device_failed", "");
    }
}
