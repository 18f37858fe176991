package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.models.ModelBudget;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two workers over real HTTP ({@code --devices cpu,cpu}: the one CPU twice, each worker with its own copies of the
 * models) with {@code --max-loaded-models 1} and the tiny SD 1.x fixture under two names. Each device loads the
 * default model at start-up; a job on the other model goes to the first device (neither holds it, both idle) and
 * loads it there; jobs on the default model go to the device still holding it and run beside that job; a further one
 * waits for that device rather than move to the idle one. The images equal those of a one-device server within one
 * 8-bit level, {@code /metrics} has a series per device, {@code GET /v1/models} says where each model is loaded, and
 * cancelling a running and a queued job works.
 */
class DevicesServerTest {

    private static final String DEFAULT_MODEL = "a-sd1";
    private static final String OTHER_MODEL = "b-sd1";

    private static String body(String model, String prompt, String sampler, int steps, long seed) {
        return "{\"model\":\"" + model + "\",\"prompt\":\"" + prompt + "\",\"negative_prompt\":\"blurry\","
                + "\"width\":64,\"height\":64,\"steps\":" + steps + ",\"sampler\":\"" + sampler + "\",\"seed\":"
                + seed + ",\"guidance_scale\":7.5}";
    }

    @Test
    void routesByModelAffinityRunsDevicesSideBySideAndMatchesOneDevice() throws Exception {
        Fixtures.require("pipeline_sd1/model");
        Path models = Files.createTempDirectory("jdiffuse-devices");
        TestServer.linkFixture(models, DEFAULT_MODEL, "pipeline_sd1/model");
        TestServer.linkFixture(models, OTHER_MODEL, "pipeline_sd1/model");
        Map<String, String> bodies = new LinkedHashMap<>();
        bodies.put("other", body(OTHER_MODEL, "a blue boat on a calm lake", "dpmpp_2m", 60, 22));
        bodies.put("first", body(DEFAULT_MODEL, "a red apple on a wooden table", "euler", 6, 11));
        bodies.put("second", body(DEFAULT_MODEL, "a green hill under a cloudy sky", "euler_ancestral", 5, 33));

        ServerOptions oneDevice = ServerOptions.defaults().withBudget(new ModelBudget(1, 0));
        Map<String, BufferedImage> alone = new LinkedHashMap<>();
        try (TestServer ts = new TestServer(oneDevice, ModelRegistry.open(models, ModelLoaders.production(), "cpu",
                "fp32", oneDevice.budget()))) {
            for (var e : bodies.entrySet()) {
                alone.put(e.getKey(), image(ts, ts.submit(e.getValue())));
            }
        }

        ServerOptions twoDevices = oneDevice.withDevices(List.of("cpu", "cpu"));
        try (TestServer ts = new TestServer(twoDevices, ModelRegistry.open(models, ModelLoaders.production(),
                twoDevices.devices(), "fp32", twoDevices.budget()))) {
            assertEquals(200, ts.get("/readyz").status());
            assertEquals(List.of("cpu#0", "cpu#1"), loadedOn(ts, DEFAULT_MODEL), "each device loaded the default");
            assertEquals(List.of(), loadedOn(ts, OTHER_MODEL), "a budget of one model per device is full");

            Map<String, String> ids = new LinkedHashMap<>();
            ids.put("other", ts.submit(bodies.get("other")));
            JsonNode other = awaitStatus(ts, ids.get("other"), Set.of("running"));
            assertEquals("cpu#0", other.get("device").asText(), "no device holds b-sd1: the lower of two idle ones");
            String running = new String(ts.get("/metrics").raw().body());
            assertEquals(1.0, MetricsText.sum(running, "jdiffuse_device_jobs_running", "device=\"cpu#0\""), running);
            assertEquals(0.0, MetricsText.sum(running, "jdiffuse_device_jobs_running", "device=\"cpu#1\""), running);
            ids.put("first", ts.submit(bodies.get("first")));
            ids.put("second", ts.submit(bodies.get("second")));

            Map<String, JsonNode> done = new LinkedHashMap<>();
            for (var e : ids.entrySet()) {
                done.put(e.getKey(), ts.await(e.getValue(), Duration.ofSeconds(300)));
                assertEquals("succeeded", done.get(e.getKey()).get("status").asText(), done.get(e.getKey())
                        .toString());
            }
            assertEquals("cpu#0", done.get("other").get("device").asText());
            assertEquals("cpu#1", done.get("first").get("device").asText(), "the device that still holds a-sd1");
            assertEquals("cpu#1", done.get("second").get("device").asText(),
                    "affinity: a-sd1 is loaded on cpu#1 only, so its second job waits there");
            assertTrue(instant(done.get("first"), "started_at").isBefore(instant(done.get("other"), "finished_at")),
                    "the job on a-sd1 started while the one on b-sd1 still ran on the other device: " + done);
            for (var e : ids.entrySet()) {
                int diff = BatchingServerTest.maxLevelDiff(alone.get(e.getKey()), png(ts, e.getValue()));
                assertTrue(diff <= 1, e.getKey() + ": pixels differ by " + diff + " levels from one device's");
            }

            assertEquals(List.of("cpu#1"), loadedOn(ts, DEFAULT_MODEL), "evicted from cpu#0 to load b-sd1 there");
            assertEquals(List.of("cpu#0"), loadedOn(ts, OTHER_MODEL));
            String metrics = new String(ts.get("/metrics").raw().body());
            for (String device : List.of("cpu#0", "cpu#1")) {
                String label = "device=\"" + device + "\"";
                assertEquals(1.0, MetricsText.sum(metrics, "jdiffuse_device_models_loaded", label), metrics);
                assertEquals(0.0, MetricsText.sum(metrics, "jdiffuse_device_jobs_running", label));
                assertTrue(MetricsText.has(metrics, "jdiffuse_device_images_running", label), label);
                assertTrue(MetricsText.has(metrics, "jdiffuse_batch_jobs_count", label), label);
                assertTrue(MetricsText.has(metrics, "jdiffuse_batch_images_count", label), label);
                assertTrue(MetricsText.has(metrics, "jdiffuse_decode_jobs_count", label), label);
                assertTrue(MetricsText.has(metrics, "jdiffuse_decode_images_count", label), label);
            }

            // a running job and one queued behind it on the same device (its model's) are cancelled; the idle
            // device never takes the queued one
            String slow = ts.submit(body(DEFAULT_MODEL, "a long walk", "euler", 150, 5));
            assertEquals("cpu#1", awaitStatus(ts, slow, Set.of("running")).get("device").asText());
            String behind = ts.submit(bodies.get("first"));
            Thread.sleep(300);
            JsonNode waiting = ts.get("/v1/generations/" + behind).json();
            assertEquals("queued", waiting.get("status").asText(), "waits for cpu#1, which holds a-sd1: " + waiting);
            assertTrue(waiting.path("device").isMissingNode(), "no device until it leaves the queue");
            TestServer.Reply cancelQueued = ts.delete("/v1/generations/" + behind);
            assertEquals(200, cancelQueued.status());
            assertEquals("cancelled", cancelQueued.json().get("status").asText());
            assertEquals(202, ts.delete("/v1/generations/" + slow).status());
            JsonNode cancelled = ts.await(slow, Duration.ofSeconds(120));
            assertEquals("cancelled", cancelled.get("status").asText(), cancelled.toString());
            assertTrue(cancelled.get("step").asInt() < 150, cancelled.toString());
            assertEquals("succeeded", ts.await(ts.submit(bodies.get("other")), Duration.ofSeconds(300))
                    .get("status").asText(), "the server keeps serving after the cancels");
        }
    }

    /** The labels of the devices {@code GET /v1/models} says the model is loaded on. */
    private static List<String> loadedOn(TestServer ts, String model) throws Exception {
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            if (m.get("name").asText().equals(model)) {
                List<String> out = new ArrayList<>();
                m.get("devices").forEach(d -> out.add(d.asText()));
                return out;
            }
        }
        throw new AssertionError("no model " + model);
    }

    private static JsonNode awaitStatus(TestServer ts, String id, Set<String> wanted) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < end) {
            JsonNode j = ts.get("/v1/generations/" + id).json();
            if (wanted.contains(j.get("status").asText())) {
                return j;
            }
            if (TestServer.TERMINAL.contains(j.get("status").asText())) {
                throw new AssertionError("ended before reaching " + wanted + ": " + j);
            }
            Thread.sleep(10);
        }
        throw new AssertionError("job " + id + " did not reach " + wanted);
    }

    private static Instant instant(JsonNode job, String field) {
        return Instant.parse(job.get(field).asText());
    }

    private static BufferedImage image(TestServer ts, String id) throws Exception {
        JsonNode done = ts.await(id, Duration.ofSeconds(300));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return png(ts, id);
    }

    private static BufferedImage png(TestServer ts, String id) throws Exception {
        return ImageIO.read(new ByteArrayInputStream(ts.get("/v1/generations/" + id + "/images/0").raw().body()));
    }
}
