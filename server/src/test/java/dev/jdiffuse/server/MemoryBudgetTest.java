package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;

import javax.imageio.ImageIO;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 1 over real HTTP: uploads are held encoded (memory in proportion to what was sent), the upload
 * store, the decoded images of queued jobs and finished results each have a byte budget with a JSON refusal or an
 * eviction, and a job that runs out of memory fails alone.
 */
class MemoryBudgetTest {

    static final Limits LIMITS = new Limits(1024, 1024L * 1024, 50, 4, 1000, 64 * 1024, 8L << 20, 4096L * 4096,
            4096);

    /** A PNG of a {@code side x side} black canvas: tens of kilobytes declaring up to 64 MiB of pixels. */
    static byte[] canvas(int side) throws Exception {
        BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_BYTE_BINARY);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    static TestServer.Reply upload(TestServer ts, byte[] png) throws Exception {
        return ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads")).header("Content-Type",
                "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(png)));
    }

    static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return heap.getUsed();
    }

    @Test
    void largeCanvasUploadsAreHeldEncodedAndTheStoreHasAByteBudget() throws Exception {
        byte[] png = canvas(4096);
        assertTrue(png.length < 200_000, "a small file: " + png.length);
        long budget = 24L * png.length + png.length / 2;
        try (TestServer ts = new TestServer(ServerOptions.defaults().withLimits(LIMITS).withSafety(
                Safety.DEFAULTS.withBudgets(budget, 512L << 20, 1L << 30)), new ScriptedPipeline(0))) {
            long before = usedHeapAfterGc();
            for (int i = 0; i < 24; i++) {
                TestServer.Reply r = upload(ts, png);
                assertEquals(201, r.status(), () -> new String(r.raw().body()));
                assertEquals(4096, r.json().get("width").asInt());
            }
            long grown = usedHeapAfterGc() - before;
            assertTrue(grown < 48L << 20, "24 uploads of 4096x4096 (1.5 GiB decoded) grew the heap by "
                    + (grown >> 20) + " MiB");
            TestServer.Reply full = upload(ts, png);
            assertEquals(507, full.status());
            assertEquals("storage_full", full.errorCode());
            assertNotNull(full.header("Retry-After"));
        }
    }

    @Test
    void decodedImagesOfQueuedJobsHaveABudget() throws Exception {
        byte[] png = canvas(1024);
        try (TestServer ts = new TestServer(ServerOptions.defaults().withLimits(LIMITS).withSafety(
                Safety.DEFAULTS.withBudgets(64L << 20, 512L << 20, 6L << 20)), new ScriptedPipeline(0))) {
            String upload = upload(ts, png).json().get("id").asText();
            String control = "\"controlnets\":[{\"model\":\"canny\",\"image\":\"" + upload + "\"}]";
            String held = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":2," + control + "}");
            TestServer.Reply second = ts.post("/v1/generations", "{\"steps\":1," + control + "}");
            assertEquals(507, second.status(), () -> new String(second.raw().body()));
            assertEquals("storage_full", second.errorCode());
            assertEquals("controlnets", second.errorField());
            assertEquals(202, ts.post("/v1/generations", "{\"steps\":1}").status(), "a job without images fits");
            ts.pipeline.release();
            ts.await(held, Duration.ofSeconds(5));
            String again = ts.submit("{\"steps\":1," + control + "}");
            assertEquals("succeeded", ts.await(again, Duration.ofSeconds(5)).get("status").asText(),
                    "the ended job gave its share back");
        }
    }

    @Test
    void resultsBeyondTheirBudgetLeaveMemoryAndAreServedFromTheOutputFolder(@TempDir Path out) throws Exception {
        for (Path dir : new Path[] {null, out}) {
            try (TestServer ts = new TestServer(ServerOptions.defaults().withLimits(LIMITS).withSafety(
                    Safety.DEFAULTS.withBudgets(64L << 20, 1, 1L << 30).withOutputDir(dir)),
                    new ScriptedPipeline(0))) {
                String first = ts.submit("{\"steps\":1}");
                ts.await(first, Duration.ofSeconds(5));
                String second = ts.submit("{\"steps\":1}");
                ts.await(second, Duration.ofSeconds(5));
                TestServer.Reply old = ts.get("/v1/generations/" + first + "/images/0");
                if (dir == null) {
                    assertEquals(404, old.status(), "dropped from memory and kept nowhere else");
                    assertTrue(old.json().at("/error/message").asText().contains("no longer kept"));
                } else {
                    assertEquals(200, old.status(), "read back from the output folder");
                    assertEquals("image/png", old.header("Content-Type"));
                }
            }
        }
    }

    @Test
    void aJobThatRunsOutOfMemoryFailsAloneAndTheNextRuns() throws Exception {
        try (TestServer ts = new TestServer(ServerOptions.defaults().withLimits(LIMITS), new ScriptedPipeline(0))) {
            String oom = ts.submit("{\"prompt\":\"oom\",\"steps\":3}");
            String next = ts.submit("{\"steps\":1}");
            var failed = ts.await(oom, Duration.ofSeconds(5));
            assertEquals("failed", failed.get("status").asText());
            assertEquals("out_of_memory", failed.at("/error/code").asText());
            assertEquals("succeeded", ts.await(next, Duration.ofSeconds(5)).get("status").asText());
            assertEquals(200, ts.get("/readyz").status());
        }
    }
}
