package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching over real HTTP with {@code --batch-images 8} on the tiny SD 1.x fixture: four jobs submitted at
 * once (different prompts, samplers, step counts, seeds) all succeed with the images they give run one at a time
 * (8-bit pixels within one level: the float images agree within 1e-5), a job cancelled mid-run ends cancelled while
 * the others finish, and {@code /metrics} shows forwards shared by more than one job and every job's decoding.
 */
class BatchingServerTest {

    private static final List<String> BODIES = List.of(
            body("a red apple on a wooden table", "euler", 6, 11, 7.5),
            body("a blue boat on a calm lake", "dpmpp_2m", 9, 22, 5.0),
            body("a green hill under a cloudy sky", "ddim", 4, 33, 1.0),
            body("a yellow cat sleeping", "euler_ancestral", 7, 44, 6.0));

    private static String body(String prompt, String sampler, int steps, long seed, double guidance) {
        return "{\"model\":\"tiny-sd1\",\"prompt\":\"" + prompt + "\",\"negative_prompt\":\"blurry\",\"width\":64,"
                + "\"height\":64,\"steps\":" + steps + ",\"sampler\":\"" + sampler + "\",\"seed\":" + seed
                + ",\"guidance_scale\":" + guidance + "}";
    }

    @Test
    void fourJobsAtOnceShareForwardsAndGiveTheImagesTheyGiveAlone() throws Exception {
        Fixtures.require("pipeline_sd1/model");
        Path models = Files.createTempDirectory("jdiffuse-models");
        TestServer.linkFixture(models, "tiny-sd1", "pipeline_sd1/model");
        ServerOptions options = ServerOptions.defaults()
                .withBatching(new ServerOptions.Batching(8, Duration.ofMillis(100)));
        try (TestServer ts = new TestServer(options, ModelRegistry.open(models, ModelLoaders.production(), "cpu",
                "fp32", dev.jdiffuse.server.models.ModelBudget.UNLIMITED))) {
            List<BufferedImage> alone = new ArrayList<>();
            for (String b : BODIES) {
                alone.add(run(ts, ts.submit(b)));
            }
            double sharedBefore = sharedForwards(ts.get("/metrics").raw().body());
            assertEquals(0, sharedBefore, "one job at a time shares no forward");
            ExecutorService pool = Executors.newFixedThreadPool(BODIES.size());
            List<String> ids = new ArrayList<>();
            try {
                List<Future<String>> submitted = new ArrayList<>();
                for (String b : BODIES) {
                    submitted.add(pool.submit(() -> ts.submit(b)));
                }
                for (Future<String> f : submitted) {
                    ids.add(f.get());
                }
            } finally {
                pool.shutdownNow();
            }
            for (int j = 0; j < ids.size(); j++) {
                BufferedImage together = run(ts, ids.get(j));
                int diff = maxLevelDiff(alone.get(j), together);
                assertTrue(diff <= 1, "job " + j + ": pixels differ by " + diff + " levels from the job run alone");
            }
            String metrics = new String(ts.get("/metrics").raw().body());
            assertTrue(sharedForwards(ts.get("/metrics").raw().body()) > 0, "forwards of more than one job:\n"
                    + metrics.lines().filter(l -> l.startsWith("jdiffuse_batch")).toList());
            // every job ran in a lane and decoded once (alone, or in one VAE call with jobs that finished with it)
            List<String> decodes = metrics.lines().filter(l -> l.startsWith("jdiffuse_decode")).toList();
            assertEquals(2.0 * BODIES.size(), MetricsText.sum(metrics, "jdiffuse_decode_jobs_sum", ""),
                    decodes.toString());
            assertEquals(2.0 * BODIES.size(), MetricsText.sum(metrics, "jdiffuse_decode_images_sum", ""),
                    decodes.toString());

            // a job cancelled while it shares forwards ends cancelled; the others are not disturbed
            String slow = ts.submit(body("a long walk", "euler", 150, 5, 7.5));
            String other = ts.submit(BODIES.get(0));
            awaitStarted(ts, slow);
            assertEquals(202, ts.delete("/v1/generations/" + slow).status());
            assertEquals("cancelled", ts.await(slow, Duration.ofSeconds(120)).get("status").asText());
            assertTrue(maxLevelDiff(alone.get(0), run(ts, other)) <= 1, "the job beside the cancelled one");
        }
    }

    private static void awaitStarted(TestServer ts, String id) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < end) {
            if (!ts.get("/v1/generations/" + id).json().get("status").asText().equals("queued")) {
                return;
            }
            Thread.sleep(20);
        }
    }

    private static BufferedImage run(TestServer ts, String id) throws Exception {
        JsonNode done = ts.await(id, Duration.ofSeconds(300));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ImageIO.read(new ByteArrayInputStream(ts.get("/v1/generations/" + id + "/images/0").raw().body()));
    }

    /** Forwards counted in jdiffuse_batch_jobs minus those of one job (the le="1.0" bucket), every device's. */
    private static double sharedForwards(byte[] scrape) {
        String text = new String(scrape);
        return MetricsText.sum(text, "jdiffuse_batch_jobs_count", "") - MetricsText.sum(text,
                "jdiffuse_batch_jobs_bucket", "le=\"1.0\"");
    }

    /** The largest difference of one 8-bit channel between two images of one size. */
    static int maxLevelDiff(BufferedImage a, BufferedImage b) {
        assertEquals(a.getWidth(), b.getWidth());
        int max = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int s = 0; s < 24; s += 8) {
                    max = Math.max(max, Math.abs(((p >> s) & 0xff) - ((q >> s) & 0xff)));
                }
            }
        }
        return max;
    }
}
