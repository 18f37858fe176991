package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngText;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Submit, follow over WebSocket (steps, previews, final), fetch the PNG and read its text chunks back. */
class HappyPathTest {

    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(30);
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    @Test
    void submitFollowFetch() throws Exception {
        TestServer.Reply accepted = ts.post("/v1/generations", """
                {"prompt":"a red fox, oil painting","negative_prompt":"blurry","width":96,"height":64,"steps":8,
                 "sampler":"dpmpp_2m","schedule":"karras","guidance_scale":7.5,"seed":42,
                 "preview":{"method":"rgb","every":2,"max_size":32}}""");
        assertEquals(202, accepted.status());
        String id = accepted.json().get("id").asText();
        assertTrue(List.of("queued", "running").contains(accepted.json().get("status").asText()));
        assertEquals(42, accepted.json().get("seed").asLong());
        assertEquals("/v1/generations/" + id, accepted.header("Location"));
        assertEquals("/v1/generations/" + id + "/stream", accepted.json().at("/links/stream").asText());

        List<WsClient.Message> got;
        try (WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/generations/" + id
                + "/stream")) {
            got = ws.untilFinal(id, Duration.ofSeconds(10));
        }
        assertEquals("subscribed", got.get(0).type());
        assertEquals("state", got.get(1).type(), "a joiner gets the current state first");
        int lastStep = 0;
        int previews = 0;
        for (WsClient.Message m : got) {
            if (m.binary()) {
                previews++;
                assertEquals("preview", m.type());
                assertEquals(id, m.json().get("job").asText());
                assertEquals("jpeg", m.json().get("format").asText());
                BufferedImage img = ImageIO.read(new ByteArrayInputStream(m.payload()));
                assertNotNull(img, "preview payload decodes as an image");
                assertTrue(Math.max(img.getWidth(), img.getHeight()) <= 32, "max_size honoured");
            } else if (m.type().equals("step")) {
                int step = m.json().get("step").asInt();
                assertTrue(step > lastStep, "steps increase");
                lastStep = step;
                assertEquals(8, m.json().get("total").asInt());
                assertTrue(m.json().has("sigma") && m.json().has("elapsed_ms") && m.json().has("eta_ms"));
            }
        }
        assertEquals(8, lastStep, "the last step event is never lost");
        assertTrue(previews >= 1, "at least the last preview arrives");
        JsonNode fin = got.get(got.size() - 1).json();
        assertEquals("succeeded", fin.get("status").asText());
        String url = fin.get("images").get(0).asText();

        JsonNode record = ts.get("/v1/generations/" + id).json();
        assertEquals("succeeded", record.get("status").asText());
        assertEquals(8, record.get("step").asInt());
        assertEquals(42, record.at("/parameters/seed").asLong());
        assertEquals("dpmpp_2m", record.at("/parameters/sampler").asText());
        assertTrue(record.at("/timings/run_ms").asLong() >= 8 * 30 - 5);
        // the run splits into the pipeline's part (the fake pipeline sleeps 30 ms a step inside it) and the finish
        long pipeline = record.at("/timings/pipeline_ms").asLong(-1);
        assertTrue(pipeline >= 8 * 30 - 5 && pipeline <= record.at("/timings/run_ms").asLong(), record.toString());
        assertEquals(record.at("/timings/run_ms").asLong() - pipeline, record.at("/timings/finish_ms").asLong());

        TestServer.Reply png = ts.get(url);
        assertEquals(200, png.status());
        assertEquals("image/png", png.header("Content-Type"));
        assertEquals("nosniff", png.header("X-Content-Type-Options"));
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(png.raw().body()));
        assertEquals(96, image.getWidth());
        assertEquals(64, image.getHeight());
        Map<String, String> text = PngText.read(png.raw().body());
        String params = text.get(ImageMetadata.A1111_KEYWORD);
        assertTrue(params.startsWith("a red fox, oil painting\nNegative prompt: blurry\nSteps: 8, "), params);
        for (String part : List.of("Sampler: DPM++ 2M", "Schedule type: Karras", "CFG scale: 7.5", "Seed: 42",
                "Size: 96x64", "Model hash: 0123456789", "Model: tiny", "RNG: CPU")) {
            assertTrue(params.contains(part), part + " in " + params);
        }
        JsonNode meta = TestServer.JSON.readTree(text.get(ImageMetadata.JSON_KEYWORD));
        assertEquals("torch-cpu", meta.get("rng").asText());
        assertEquals(TestServer.HASH, meta.get("model_sha256").asText());
        assertEquals("tiny", meta.get("model").asText());
        assertEquals("karras", meta.get("schedule").asText());
        assertEquals(42, meta.get("seed").asLong());
        assertEquals(9, meta.get("sigmas").size());
    }

    @Test
    void omittedFieldsTakeModelDefaultsAndSeedIsChosen() throws Exception {
        String id = ts.submit("{}");
        JsonNode done = ts.await(id, Duration.ofSeconds(10));
        assertEquals("succeeded", done.get("status").asText());
        JsonNode p = done.get("parameters");
        assertEquals(64, p.get("width").asInt());
        assertEquals(4, p.get("steps").asInt());
        assertEquals("euler", p.get("sampler").asText());
        assertEquals(5.0, p.get("guidance_scale").asDouble());
        long seed = p.get("seed").asLong();
        assertTrue(seed >= 0 && seed < (1L << 32), "a chosen seed is reported: " + seed);
    }

    @Test
    void latentPreviewsAndOneSocketFollowingSeveralJobs() throws Exception {
        try (WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/stream")) {
            String a = ts.submit("{\"prompt\":\"a\",\"steps\":3,\"preview\":{\"method\":\"latent\"}}");
            String b = ts.submit("{\"prompt\":\"b\",\"steps\":3,\"batch_size\":2}");
            ws.send("{\"type\":\"subscribe\",\"id\":\"" + a + "\"}");
            ws.send("{\"type\":\"subscribe\",\"id\":\"" + b + "\"}");
            List<WsClient.Message> got = ws.untilFinal(b, Duration.ofSeconds(10));
            assertTrue(got.stream().anyMatch(m -> !m.binary() && m.type().equals("final")
                    && m.json().get("job").asText().equals(a)), "job a's final arrives first (FIFO)");
            WsClient.Message latent = got.stream().filter(WsClient.Message::binary).reduce((x, y) -> y)
                    .orElseThrow();
            assertEquals("latent", latent.json().get("format").asText());
            assertEquals("float16", latent.json().get("dtype").asText());
            int c = latent.json().get("channels").asInt();
            int h = latent.json().get("height").asInt();
            int w = latent.json().get("width").asInt();
            assertEquals(c * h * w * 2, latent.payload().length);
            JsonNode finB = got.get(got.size() - 1).json();
            assertEquals(2, finB.get("images").size());
            ws.send("{\"type\":\"subscribe\",\"id\":\"nope\"}");
            WsClient.Message err = ws.next(Duration.ofSeconds(5));
            assertEquals("error", err.type());
            assertEquals("not_found", err.json().get("code").asText());
        }
    }

    @Test
    void operationalEndpoints() throws Exception {
        assertEquals(200, ts.get("/healthz").status());
        TestServer.Reply ready = ts.get("/readyz");
        assertEquals(200, ready.status());
        assertEquals("ready", ready.json().get("status").asText());
        TestServer.Reply models = ts.get("/v1/models");
        assertEquals("tiny", models.json().at("/models/0/name").asText());
        assertEquals("0123456789", models.json().at("/models/0/hash").asText());
        TestServer.Reply samplers = ts.get("/v1/samplers");
        assertTrue(samplers.json().get("samplers").size() > 5);
        assertFalse(samplers.json().at("/schedules/1/parameters").isEmpty());
        TestServer.Reply schedule = ts.post("/v1/schedule", "{\"steps\":5}");
        assertEquals(200, schedule.status());
        assertEquals(6, schedule.json().get("sigmas").size());
        assertEquals(5, schedule.json().get("timesteps").size());
        ts.await(ts.submit("{\"steps\":1}"), Duration.ofSeconds(5));
        String metrics = new String(ts.get("/metrics").raw().body());
        for (String name : List.of("jdiffuse_queue_depth", "jdiffuse_jobs_total{outcome=\"succeeded\"",
                "jdiffuse_job_wait_seconds_bucket", "jdiffuse_job_run_seconds_bucket",
                "jdiffuse_sampling_steps_per_second", "jvm_memory_used_bytes", "jvm_threads_live_threads",
                "process_resident_memory_bytes")) {
            assertTrue(metrics.contains(name), name + " in /metrics");
        }
        // no --cuda-graphs here (nor a GPU): the graph series exist and stay at zero
        for (String series : List.of("jdiffuse_cuda_graph_replays_total", "jdiffuse_cuda_graph_captures_total",
                "jdiffuse_cuda_graphs_failed")) {
            assertTrue(metrics.contains("\n" + series + " "), series + " in /metrics");
            assertEquals(0.0, MetricsText.sum(metrics, series, ""), series);
        }
        TestServer.Reply index = ts.get("/");
        assertEquals(200, index.status());
        assertTrue(new String(index.raw().body()).contains("jdiffuse"));
    }
}
