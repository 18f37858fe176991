package dev.jdiffuse.server;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The issue 12 upload-memory scenario as a bounded loopback load test: 8 clients upload 160 PNGs of a 4096x4096
 * canvas (about 2 KB each, 10 GiB of pixels if kept decoded, which ran the old server out of heap after about 75)
 * while a ninth polls {@code /healthz}. Every answer is 2xx, and the heap after the run holds no more than the
 * upload store's byte budget plus a fixed allowance.
 */
class UploadLoadTest {

    static final int CLIENTS = 8;
    static final int UPLOADS = 160;
    static final long BUDGET = 16L << 20;

    @Test
    void manyLargeCanvasUploadsStayWithinTheBudget() throws Exception {
        byte[] png = MemoryBudgetTest.canvas(4096);
        ServerOptions options = ServerOptions.defaults().withLimits(MemoryBudgetTest.LIMITS)
                .withSafety(Safety.DEFAULTS.withBudgets(BUDGET, 64L << 20, 256L << 20));
        ExecutorService pool = Executors.newFixedThreadPool(CLIENTS + 1);
        try (TestServer ts = new TestServer(options, new ScriptedPipeline(0))) {
            long before = MemoryBudgetTest.usedHeapAfterGc();
            AtomicInteger left = new AtomicInteger(UPLOADS);
            AtomicInteger created = new AtomicInteger();
            List<Future<List<Integer>>> clients = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                clients.add(pool.submit(() -> {
                    List<Integer> bad = new ArrayList<>();
                    while (left.getAndDecrement() > 0) {
                        TestServer.Reply r = MemoryBudgetTest.upload(ts, png);
                        if (r.status() == 201) {
                            created.incrementAndGet();
                        } else {
                            bad.add(r.status());
                        }
                    }
                    return bad;
                }));
            }
            Future<Long> health = pool.submit(() -> {
                long worst = 0;
                while (left.get() > 0) {
                    long t0 = System.nanoTime();
                    assertEquals(200, ts.get("/healthz").status());
                    worst = Math.max(worst, (System.nanoTime() - t0) / 1_000_000);
                    Thread.sleep(50);
                }
                return worst;
            });
            for (Future<List<Integer>> f : clients) {
                assertEquals(List.of(), f.get(60, TimeUnit.SECONDS), "statuses other than 201");
            }
            assertEquals(UPLOADS, created.get());
            health.get(10, TimeUnit.SECONDS);
            long grown = MemoryBudgetTest.usedHeapAfterGc() - before;
            assertTrue(grown < BUDGET + (32L << 20), "the heap grew by " + (grown >> 20) + " MiB for "
                    + UPLOADS + " uploads of " + png.length + " bytes");
            String metrics = new String(ts.get("/metrics").raw().body());
            double held = StreamTest.metric(metrics, "jdiffuse_uploads_held_bytes");
            assertEquals((double) UPLOADS * png.length, held, "the store holds what was sent, encoded");
        } finally {
            pool.shutdownNow();
        }
    }
}
