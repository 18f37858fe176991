package dev.jdiffuse.samplers.batching;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Starting jobs' row-wise work ({@link StartGatherer}): calls that wait while the forward thread is busy run as one
 * on their concatenated rows and each job gets exactly its own rows back; a shared run that fails is run again per
 * job; a thread without a lane runs the function where it is.
 */
class StartGathererTest {

    /** Row-wise, two outputs: 2x + 1 and the row sums [B, 1]; records the rows of each call and its thread. */
    static final class Doubler implements Function<NDArray, NDList> {
        final List<Long> rows = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        final int failAbove;

        Doubler(int failAbove) {
            this.failAbove = failAbove;
        }

        @Override
        public NDList apply(NDArray x) {
            long n = x.getShape().get(0);
            rows.add(n);
            threads.add(Thread.currentThread().getName());
            if (n > failAbove) {
                throw new IllegalStateException("too many rows: " + n);
            }
            return new NDList(x.mul(2).add(1), x.sum(new int[] {1}, true));
        }
    }

    @Test
    void callsWaitingWhileTheForwardThreadIsBusyRunAsOne() throws Exception {
        StepBatcher batcher = new StepBatcher(new StepBatcherTest.Toy());
        Doubler f = new Doubler(Integer.MAX_VALUE);
        List<int[]> runs = new CopyOnWriteArrayList<>();
        batcher.starts().observe((calls, rows) -> runs.add(new int[] {calls, rows}));
        List<float[][]> got = gathered(batcher, f, 4);
        assertEquals(List.of(1 + 2 + 3 + 4), runs.stream().map(r -> r[1]).toList(), "one run of every row");
        assertEquals(4, runs.get(0)[0]);
        assertEquals(List.of(10L), f.rows);
        assertTrue(f.threads.get(0).startsWith("jdiffuse-forward-"), f.threads.get(0));
        for (int j = 0; j < 4; j++) {
            assertArrayEquals(expected(j)[0], got.get(j)[0], "job " + j + " first output");
            assertArrayEquals(expected(j)[1], got.get(j)[1], "job " + j + " second output");
        }
    }

    @Test
    void aSharedRunThatFailsIsRunAgainForEachJob() throws Exception {
        StepBatcher batcher = new StepBatcher(new StepBatcherTest.Toy());
        Doubler f = new Doubler(4); // fails on more than 4 rows: only the shared run does
        List<float[][]> got = gathered(batcher, f, 4);
        assertEquals(10L, f.rows.get(0), "the shared run was tried first");
        assertEquals(List.of(1L, 2L, 3L, 4L), f.rows.subList(1, 5).stream().sorted().toList(),
                "then each job alone (in the order they arrived)");
        assertEquals(5, f.rows.size());
        for (int j = 0; j < 4; j++) {
            assertArrayEquals(expected(j)[0], got.get(j)[0], "job " + j);
        }
    }

    @Test
    void withoutALaneTheFunctionRunsRightHere() {
        StepBatcher batcher = new StepBatcher(new StepBatcherTest.Toy());
        Doubler f = new Doubler(Integer.MAX_VALUE);
        try (NDManager m = NDManager.newBaseManager()) {
            NDList out = StepBatcher.startWork(m.ones(new Shape(2, 3)), f, f);
            assertEquals(3f, out.get(0).getFloat(0, 0));
            assertEquals(List.of(Thread.currentThread().getName()), f.threads);
            out = batcher.starts().apply(m.ones(new Shape(1, 3)), f, f);
            assertEquals(Thread.currentThread().getName(), f.threads.get(1));
        }
    }

    /** A run that cannot be handed to the forward thread (the model was unloaded) fails its calls, and later ones too. */
    @Test
    void callsAfterTheBatcherClosedFailInsteadOfWaitingForever() {
        StepBatcher batcher = new StepBatcher(new StepBatcherTest.Toy());
        batcher.close();
        Doubler f = new Doubler(Integer.MAX_VALUE);
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20), () -> {
            try (NDManager m = NDManager.newBaseManager(); Lane lane = batcher.join(1)) {
                for (int i = 0; i < 2; i++) {
                    org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                            () -> StepBatcher.startWork(m.ones(new Shape(1, 3)), f, f));
                }
                assertEquals(0, batcher.starts().waiting(), "no call left behind");
            }
        });
        assertEquals(List.of(), f.rows, "the function never ran");
    }

    /** Job j's rows: (j + 1) rows of 3, arange + 10 j. */
    private static NDArray rowsOf(NDManager m, int j) {
        return m.arange(0f, (j + 1) * 3f).reshape(j + 1, 3).add(10 * j);
    }

    private static float[][] expected(int j) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = rowsOf(m, j);
            return new float[][] {x.mul(2).add(1).toFloatArray(), x.sum(new int[] {1}, true).toFloatArray()};
        }
    }

    /**
     * {@code jobs} lanes call while the forward thread is held busy, so that all their calls wait together; their
     * outputs as floats, checked to be in each caller's own manager.
     */
    private static List<float[][]> gathered(StepBatcher batcher, Doubler f, int jobs) throws Exception {
        CountDownLatch busy = new CountDownLatch(1);
        CountDownLatch called = new CountDownLatch(jobs);
        Thread occupier = new Thread(() -> batcher.onForwardThread(() -> {
            busy.countDown();
            try {
                called.await(10, TimeUnit.SECONDS);
                long until = System.nanoTime() + 10_000_000_000L;
                while (batcher.starts().waiting() < jobs && System.nanoTime() < until) {
                    Thread.sleep(5); // until every caller waits for the run
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return null;
        }));
        occupier.start();
        assertTrue(busy.await(10, TimeUnit.SECONDS));
        ExecutorService pool = Executors.newFixedThreadPool(jobs);
        try (NDManager root = NDManager.newBaseManager()) {
            List<Future<float[][]>> futures = new ArrayList<>();
            for (int j = 0; j < jobs; j++) {
                int job = j;
                futures.add(pool.submit(() -> {
                    try (Lane lane = batcher.join(1); NDManager mine = root.newSubManager()) {
                        NDArray x = rowsOf(mine, job);
                        called.countDown();
                        NDList out = StepBatcher.startWork(x, f, f);
                        for (NDArray o : out) {
                            assertEquals(mine, o.getManager(), "the output belongs to the caller's manager");
                            assertEquals(job + 1, o.getShape().get(0));
                        }
                        return new float[][] {out.get(0).toFloatArray(), out.get(1).toFloatArray()};
                    }
                }));
            }
            List<float[][]> got = new ArrayList<>();
            for (Future<float[][]> fu : futures) {
                got.add(fu.get(60, TimeUnit.SECONDS));
            }
            return got;
        } finally {
            pool.shutdownNow();
            occupier.join(10_000);
        }
    }
}
