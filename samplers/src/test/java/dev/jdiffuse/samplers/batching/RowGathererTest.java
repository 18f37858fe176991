package dev.jdiffuse.samplers.batching;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.batching.StepBatcherTest.Bias;
import dev.jdiffuse.samplers.batching.StepBatcherTest.Toy;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gatherer with a row-wise toy function {@code f(x) = 2x + 1}: jobs that left together share one call and get
 * what they would get alone, in their own memory; a lone job calls at once with its own array; a job served by the
 * same last forward is waited for unless it has steps left or calls again, and one with one step left through its
 * last forward; shapes never mix; the cap splits; a failed
 * shared call is retried alone by each job; a cancelled waiting call leaves at once and nobody waits for it.
 * The window is long (30 s) wherever a test would otherwise pass by timing out.
 */
class RowGathererTest {

    private static final Duration LONG = Duration.ofSeconds(30);
    private static final String F = "f";

    /** 2x + 1, remembering the rows of each call and its input arrays. */
    static class Doubler implements UnaryOperator<NDArray> {
        final List<Integer> rowsPerCall = new CopyOnWriteArrayList<>();
        final List<NDArray> inputs = new CopyOnWriteArrayList<>();

        @Override
        public NDArray apply(NDArray x) {
            inputs.add(x);
            rowsPerCall.add((int) x.getShape().get(0));
            return x.mul(2).add(1);
        }
    }

    /** Job {@code j}'s rows: [rows, 3] with values distinct per job. */
    private static NDArray rows(NDManager m, int j, int rows) {
        return m.arange(0f, rows * 3f).reshape(rows, 3).add(100f * j);
    }

    private static float[] alone(NDManager m, int j, int rows) {
        try (NDManager s = m.newSubManager()) {
            return rows(s, j, rows).mul(2).add(1).toFloatArray();
        }
    }

    private static StepBatcher batcher(int maxImages, Duration window, List<int[]> seen) {
        StepBatcher b = new StepBatcher(new Toy());
        b.configure(maxImages, window);
        b.gatherer().observe((jobs, rows) -> seen.add(new int[] {jobs, rows}));
        return b;
    }

    /** Jobs that each join, leave (all before any applies), then apply {@code f} to their rows; the outputs. */
    private static List<float[]> leaveThenApply(StepBatcher b, NDManager root, UnaryOperator<NDArray> f,
            int... rowsPerJob) throws Exception {
        int n = rowsPerJob.length;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch left = new CountDownLatch(n);
        try {
            List<Future<float[]>> futures = new ArrayList<>();
            for (int j = 0; j < n; j++) {
                int job = j;
                futures.add(pool.submit(() -> {
                    try (Lane lane = b.join(rowsPerJob[job]); NDManager m = root.newSubManager()) {
                        lane.leave();
                        left.countDown();
                        left.await();
                        NDArray x = rows(m, job, rowsPerJob[job]);
                        NDArray y = b.gatherer().apply(x, F, f);
                        assertSame(m, y.getManager(), "the rows belong to the caller's manager");
                        return y.toFloatArray();
                    }
                }));
            }
            List<float[]> out = new ArrayList<>();
            for (Future<float[]> fu : futures) {
                out.add(fu.get(60, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void jobsThatLeftTogetherShareOneCallAndGetTheirOwnRows() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler();
        try (NDManager root = NDManager.newBaseManager()) {
            int before = root.getManagedArrays().size();
            List<float[]> out = leaveThenApply(b, root, f, 1, 2, 3);
            for (int j = 0; j < 3; j++) {
                assertArrayEquals(alone(root, j, j + 1), out.get(j), "job " + j);
            }
            assertEquals(List.of(6), f.rowsPerCall, "one call of all rows");
            assertEquals(1, seen.size());
            assertArrayEquals(new int[] {3, 6}, seen.get(0));
            assertEquals(before, root.getManagedArrays().size(), "the concatenation's manager was closed");
        }
        assertEquals(0, b.gatherer().waiting());
    }

    @Test
    void aLoneJobCallsTheFunctionAtOnceWithItsOwnArray() {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler();
        try (NDManager m = NDManager.newBaseManager(); Lane lane = b.join(2)) {
            lane.leave();
            NDArray x = rows(m, 0, 2);
            long t0 = System.nanoTime();
            NDArray y = b.gatherer().apply(x, F, f);
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "no gathering window for a lone job");
            assertSame(x, f.inputs.get(0), "the caller's own input array");
            assertArrayEquals(alone(m, 0, 2), y.toFloatArray());
            assertEquals(1, seen.size());
            assertArrayEquals(new int[] {1, 2}, seen.get(0));
        }
    }

    /** Decodes run where the forwards run (PyTorch's per-thread plans), alone or gathered. */
    @Test
    void aLaneJobsCallRunsOnTheBatchersForwardThread() {
        List<String> threads = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, new CopyOnWriteArrayList<>());
        Doubler f = new Doubler() {
            @Override
            public NDArray apply(NDArray x) {
                threads.add(Thread.currentThread().getName());
                return super.apply(x);
            }
        };
        try (NDManager m = NDManager.newBaseManager(); Lane lane = b.join(2)) {
            lane.leave();
            NDArray y = b.gatherer().apply(rows(m, 0, 2), F, f);
            assertArrayEquals(alone(m, 0, 2), y.toFloatArray());
        }
        assertEquals(1, threads.size());
        assertTrue(threads.get(0).startsWith("jdiffuse-forward-"), threads.toString());
    }

    @Test
    void aThreadWithoutALaneGoesStraightToTheFunction() {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler();
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = rows(m, 0, 1);
            b.gatherer().apply(x, F, f);
            assertSame(x, f.inputs.get(0));
            assertTrue(seen.isEmpty(), "only joined jobs' calls are observed");
        }
    }

    /** What B reports of its steps: {step, steps} before the shared forward and after it, or null. */
    private record Reports(int[] before, int[] after) {
        static final Reports NONE = new Reports(null, null);
    }

    /**
     * Two jobs share a forward; A finishes and applies while B has neither left nor called again: A waits for B
     * unless B's reports say it has steps left ({@code aWaits} false: A runs alone at once). With
     * {@code bContinues}, B then makes its next network call (it is still stepping) and leaves: a waiting A stops
     * waiting and runs alone, unless B's reports say that call is its last (then both run in one call); otherwise B
     * leaves and applies, and both run in one call.
     *
     * <p>The shared forward, made deterministic: A's first call is held inside the network until B's first call is
     * pending; B's call then waits for A (expected, 30 s window), and A's second call joins it.
     */
    private static List<int[]> afterASharedForward(Reports reports, boolean aWaits, boolean bContinues)
            throws Exception {
        return afterASharedForward(reports, aWaits, bContinues, null, 0, new CopyOnWriteArrayList<>());
    }

    /**
     * As above; with {@code windowAfter}, A sets that window once the shared forward is done (before it leaves); B's
     * continuing call takes {@code slowMillis} in the network; every forward's {jobs, rows} lands in
     * {@code forwards}.
     */
    private static List<int[]> afterASharedForward(Reports reports, boolean aWaits, boolean bContinues,
            Duration windowAfter, long slowMillis, List<int[]> forwards) throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        CountDownLatch aInNetwork = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        Toy toy = new Toy() {
            @Override
            public NDArray forward(NDArray x, double[] timesteps, dev.jdiffuse.samplers.Conditioning c) {
                if (aInNetwork.getCount() > 0) {
                    aInNetwork.countDown();
                    await(gate);
                }
                if (timesteps[0] == 9.0) {
                    StepBatcherTest.sleep(slowMillis); // B's continuing call
                }
                return super.forward(x, timesteps, c);
            }
        };
        StepBatcher b = new StepBatcher(toy);
        b.configure(16, LONG);
        b.gatherer().observe((jobs, rows) -> seen.add(new int[] {jobs, rows}));
        b.observe((jobs, images, rows) -> forwards.add(new int[] {jobs, rows}));
        Doubler f = new Doubler();
        CountDownLatch shared = new CountDownLatch(2);
        CountDownLatch bGoesOn = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (NDManager root = NDManager.newBaseManager()) {
            Future<float[]> a = pool.submit(() -> {
                try (Lane lane = b.join(1); NDManager m = root.newSubManager()) {
                    b.forward(rows(m, 0, 1), 11.0, new Bias(new float[] {0}));
                    b.forward(rows(m, 0, 1), 10.0, new Bias(new float[] {0}));
                    shared.countDown();
                    shared.await();
                    if (windowAfter != null) {
                        b.configure(16, windowAfter);
                    }
                    lane.leave();
                    return b.gatherer().apply(rows(m, 0, 1), F, f).toFloatArray();
                }
            });
            assertTrue(aInNetwork.await(20, TimeUnit.SECONDS));
            Future<float[]> other = pool.submit(() -> {
                try (Lane lane = b.join(1); NDManager m = root.newSubManager()) {
                    report(lane, reports.before());
                    b.forward(rows(m, 1, 1), 10.0, new Bias(new float[] {0}));
                    report(lane, reports.after());
                    shared.countDown();
                    bGoesOn.await();
                    if (bContinues) {
                        b.forward(rows(m, 1, 1), 9.0, new Bias(new float[] {0}));
                    }
                    lane.leave();
                    return b.gatherer().apply(rows(m, 1, 1), F, f).toFloatArray();
                }
            });
            long end = System.nanoTime() + 20_000_000_000L;
            while (b.pendingCalls() != 1) {
                assertTrue(System.nanoTime() < end, "B's call never pending");
                Thread.sleep(5);
            }
            gate.countDown();
            if (aWaits) {
                awaitWaiting(b, 1);
            } else {
                assertArrayEquals(alone(root, 0, 1), a.get(20, TimeUnit.SECONDS), "A ran without waiting for B");
            }
            assertEquals(2, forwards.size());
            assertArrayEquals(new int[] {2, 2}, forwards.get(1), "A's second call and B's first shared a forward");
            bGoesOn.countDown();
            assertArrayEquals(alone(root, 0, 1), a.get(60, TimeUnit.SECONDS));
            assertArrayEquals(alone(root, 1, 1), other.get(60, TimeUnit.SECONDS));
            return seen;
        } finally {
            pool.shutdownNow();
        }
    }

    private static void report(Lane lane, int[] stepOfSteps) {
        if (stepOfSteps != null) {
            lane.stepped(stepOfSteps[0], stepOfSteps[1]);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void aJobServedByTheSameLastForwardIsWaitedFor() throws Exception {
        // no step reported, or one step (the shared forward's) left when reported before it
        for (Reports r : List.of(Reports.NONE, new Reports(new int[] {0, 2}, null))) {
            List<int[]> seen = afterASharedForward(r, true, false);
            assertEquals(1, seen.size(), "one call for both");
            assertArrayEquals(new int[] {2, 2}, seen.get(0));
        }
    }

    @Test
    void aJobThatCallsAgainAfterTheSharedForwardStopsTheWait() throws Exception {
        List<int[]> seen = afterASharedForward(Reports.NONE, true, true);
        assertEquals(2, seen.size(), "each alone");
        seen.forEach(s -> assertArrayEquals(new int[] {1, 1}, s));
    }

    @Test
    void aJobWithStepsLeftAfterTheSharedForwardIsNotWaitedFor() throws Exception {
        // three steps left before the shared forward; or two left, reported after it (the shared forward was step 0)
        for (Reports r : List.of(new Reports(new int[] {0, 4}, null), new Reports(null, new int[] {0, 3}))) {
            List<int[]> seen = afterASharedForward(r, false, true);
            assertEquals(2, seen.size(), "each alone");
            seen.forEach(s -> assertArrayEquals(new int[] {1, 1}, s));
        }
    }

    @Test
    void aJobOneForwardBehindIsWaitedForThroughItsLastForward() throws Exception {
        // two steps left before the shared forward; or one left, reported after it: B runs one more forward alone,
        // leaves and applies, and A, which finished at the shared forward, waited for it (30 s window: a test
        // that passed by timing out would see two calls)
        for (Reports r : List.of(new Reports(new int[] {0, 3}, null), new Reports(null, new int[] {0, 2}))) {
            List<int[]> seen = afterASharedForward(r, true, true);
            assertEquals(1, seen.size(), "one call for both");
            assertArrayEquals(new int[] {2, 2}, seen.get(0));
        }
    }

    /**
     * A trailing job whose last forward takes longer than the window (an SD 1.5 forward of 4 rows on an H100: 26 ms
     * against the 20 ms default) is still waited for: the window does not run out while that forward is pending or
     * running, and counts again from its end while the job leaves and applies. The steps run under a long window (so
     * the shared forward is shared whatever the machine's load); A sets a short one once it has finished.
     */
    @Test
    void aTrailingJobsLastForwardIsWaitedForEvenWhenItOutlastsTheWindow() throws Exception {
        Duration shortWindow = Duration.ofMillis(300);
        long slowMillis = 1000;
        List<int[]> forwards = new CopyOnWriteArrayList<>();
        // one step left, reported after the shared forward; B's last forward takes slowMillis
        List<int[]> seen = afterASharedForward(new Reports(null, new int[] {0, 2}), true, true, shortWindow,
                slowMillis, forwards);
        assertEquals(3, forwards.size());
        assertEquals(1, seen.size(), "one call for both, although B's last forward took " + slowMillis
                + " ms against a window of " + shortWindow.toMillis() + " ms");
        assertArrayEquals(new int[] {2, 2}, seen.get(0));
    }

    @Test
    void differentShapesNeverShareACall() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        CountDownLatch left = new CountDownLatch(2);
        try (NDManager root = NDManager.newBaseManager()) {
            List<Future<float[]>> futures = new ArrayList<>();
            for (int j = 0; j < 2; j++) {
                int width = 3 + j;
                futures.add(pool.submit(() -> {
                    try (Lane lane = b.join(1); NDManager m = root.newSubManager()) {
                        lane.leave();
                        left.countDown();
                        left.await();
                        return b.gatherer().apply(m.ones(new Shape(1, width)), F, f).toFloatArray();
                    }
                }));
            }
            for (Future<float[]> fu : futures) {
                float[] y = fu.get(60, TimeUnit.SECONDS);
                for (float v : y) {
                    assertEquals(3f, v);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(2, seen.size(), "each alone, and without waiting out the window");
    }

    @Test
    void theCapSplitsTheRowsOfJobsThatLeftTogether() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(2, LONG, seen);
        Doubler f = new Doubler();
        try (NDManager root = NDManager.newBaseManager()) {
            List<float[]> out = leaveThenApply(b, root, f, 1, 1, 1);
            for (int j = 0; j < 3; j++) {
                assertArrayEquals(alone(root, j, 1), out.get(j), "job " + j);
            }
        }
        List<Integer> rows = seen.stream().map(s -> s[1]).sorted().toList();
        assertEquals(List.of(1, 2), rows, "two rows at most in a call");
    }

    @Test
    void aLimitOfOneRowMakesEveryJobCallAloneWithoutWaiting() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        b.gatherer().limit(1);
        Doubler f = new Doubler();
        try (NDManager root = NDManager.newBaseManager()) {
            long t0 = System.nanoTime();
            List<float[]> out = leaveThenApply(b, root, f, 1, 2, 1);
            assertTrue(System.nanoTime() - t0 < 20_000_000_000L, "nobody waited out the 30 s window");
            for (int j = 0; j < 3; j++) {
                assertArrayEquals(alone(root, j, j == 1 ? 2 : 1), out.get(j), "job " + j);
            }
        }
        assertEquals(3, seen.size(), "each alone");
        seen.forEach(s -> assertEquals(1, s[0]));
        assertThrows(IllegalArgumentException.class, () -> b.gatherer().limit(-1));
    }

    @Test
    void aFailedSharedCallIsRetriedAloneByEachJob() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler() {
            @Override
            public NDArray apply(NDArray x) {
                if (x.getShape().get(0) > 2) {
                    throw new IllegalStateException("out of memory at the larger batch");
                }
                return super.apply(x);
            }
        };
        try (NDManager root = NDManager.newBaseManager()) {
            List<float[]> out = leaveThenApply(b, root, f, 1, 2);
            for (int j = 0; j < 2; j++) {
                assertArrayEquals(alone(root, j, j + 1), out.get(j), "job " + j);
            }
        }
        assertEquals(List.of(1, 2), f.rowsPerCall.stream().sorted().toList(), "each job's rows alone");
        assertEquals(2, seen.size());
    }

    @Test
    void aLoneCallsFailureIsItsOwn() {
        StepBatcher b = batcher(16, LONG, new CopyOnWriteArrayList<>());
        try (NDManager m = NDManager.newBaseManager(); Lane lane = b.join(1)) {
            lane.leave();
            assertThrows(ArithmeticException.class, () -> b.gatherer().apply(rows(m, 0, 1), F, x -> {
                throw new ArithmeticException("bad");
            }));
            assertEquals(0, b.gatherer().waiting());
        }
    }

    @Test
    void aCancelledWaitingCallLeavesAtOnceAndIsNotWaitedFor() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler();
        CountDownLatch left = new CountDownLatch(2);
        CountDownLatch release = new CountDownLatch(1);
        Lane[] first = new Lane[1];
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (NDManager root = NDManager.newBaseManager()) {
            Future<float[]> cancelled = pool.submit(() -> {
                try (Lane lane = b.join(1); NDManager m = root.newSubManager()) {
                    first[0] = lane;
                    lane.leave();
                    left.countDown();
                    left.await();
                    return b.gatherer().apply(rows(m, 0, 1), F, f).toFloatArray();
                }
            });
            Future<float[]> other = pool.submit(() -> {
                try (Lane lane = b.join(1); NDManager m = root.newSubManager()) {
                    lane.leave();
                    left.countDown();
                    release.await(); // left, not applying yet: the first job waits for it
                    return b.gatherer().apply(rows(m, 1, 1), F, f).toFloatArray();
                }
            });
            awaitWaiting(b, 1);
            long t0 = System.nanoTime();
            first[0].cancel();
            java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> cancelled.get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof CancellationException, e.toString());
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "at once, not after the window");
            assertEquals(0, b.gatherer().waiting());
            assertTrue(f.rowsPerCall.isEmpty(), "the cancelled call never reached the function");
            release.countDown();
            assertArrayEquals(alone(root, 1, 1), other.get(10, TimeUnit.SECONDS), "runs alone, at once");
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, seen.size());
        assertArrayEquals(new int[] {1, 1}, seen.get(0));
    }

    @Test
    void aCompanionCancelledBeforeApplyingIsNotWaitedFor() throws Exception {
        List<int[]> seen = new CopyOnWriteArrayList<>();
        StepBatcher b = batcher(16, LONG, seen);
        Doubler f = new Doubler();
        CountDownLatch left = new CountDownLatch(2);
        CountDownLatch done = new CountDownLatch(1);
        Lane[] companion = new Lane[1];
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (NDManager root = NDManager.newBaseManager()) {
            Future<float[]> waiting = pool.submit(() -> {
                try (Lane lane = b.join(1); NDManager m = root.newSubManager()) {
                    lane.leave();
                    left.countDown();
                    left.await();
                    return b.gatherer().apply(rows(m, 0, 1), F, f).toFloatArray();
                }
            });
            Future<?> quiet = pool.submit(() -> {
                try (Lane lane = b.join(1)) {
                    companion[0] = lane;
                    lane.leave();
                    left.countDown();
                    done.await();
                }
                return null;
            });
            awaitWaiting(b, 1);
            assertFalse(waiting.isDone(), "held for the companion that left");
            companion[0].cancel();
            assertArrayEquals(alone(root, 0, 1), waiting.get(10, TimeUnit.SECONDS));
            done.countDown();
            quiet.get(10, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, seen.size());
    }

    /** Until {@code n} calls wait in the gatherer (polled: the state is inside the batcher's lock). */
    private static void awaitWaiting(StepBatcher b, int n) throws InterruptedException {
        long end = System.nanoTime() + 20_000_000_000L;
        while (b.gatherer().waiting() != n) {
            assertTrue(System.nanoTime() < end, "no call waiting");
            Thread.sleep(5);
        }
    }
}
