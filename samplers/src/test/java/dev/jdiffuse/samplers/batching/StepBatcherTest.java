package dev.jdiffuse.samplers.batching;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batcher with a per-row toy network {@code out = x * t_row + c_row}: concurrent callers get exactly what they
 * would get alone, forwards of several jobs happen, a lone job's call reaches the network unchanged, and a cancelled
 * job's waiting call leaves at once.
 */
class StepBatcherTest {

    /** One value per row, added to every element of the row. */
    record Bias(float[] rows) implements Conditioning {
        @Override
        public Conditioning concatBatch(Conditioning other) {
            return concat(List.of(other));
        }

        @Override
        public int batchSize() {
            return rows.length;
        }

        @Override
        public Object rowLayout() {
            return "bias";
        }

        @Override
        public Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
            return concat(others);
        }

        private Bias concat(List<? extends Conditioning> others) {
            float[] all = rows.clone();
            for (Conditioning o : others) {
                float[] b = ((Bias) o).rows;
                float[] next = Arrays.copyOf(all, all.length + b.length);
                System.arraycopy(b, 0, next, all.length, b.length);
                all = next;
            }
            return new Bias(all);
        }
    }

    /** x * t + c per row; counts forwards and remembers the rows of each. */
    static class Toy implements Network {
        final List<Integer> rowsPerForward = new CopyOnWriteArrayList<>();
        final List<NDArray> inputs = new CopyOnWriteArrayList<>();
        /** The thread of each forward, in order. */
        final List<String> threads = new CopyOnWriteArrayList<>();

        @Override
        public NDArray forward(NDArray x, double timestep, Conditioning c) {
            double[] t = new double[(int) x.getShape().get(0)];
            Arrays.fill(t, timestep);
            return forward(x, t, c);
        }

        @Override
        public NDArray forward(NDArray x, double[] timesteps, Conditioning c) {
            threads.add(Thread.currentThread().getName());
            inputs.add(x);
            sleep(3); // a forward takes a while, so callers arrive while it runs
            int rows = (int) x.getShape().get(0);
            rowsPerForward.add(rows);
            float[] t = new float[rows];
            for (int i = 0; i < rows; i++) {
                t[i] = (float) timesteps[i];
            }
            NDManager m = x.getManager();
            NDArray tt = m.create(t, new Shape(rows, 1));
            NDArray cc = m.create(((Bias) c).rows(), new Shape(rows, 1));
            return x.mul(tt).add(cc);
        }

        @Override
        public boolean timestepPerRow() {
            return true;
        }
    }

    @Test
    void concurrentJobsGetTheirOwnOutputsFromSharedForwards() throws Exception {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(16, Duration.ofMillis(50));
        List<int[]> seen = new CopyOnWriteArrayList<>();
        batcher.observe((jobs, images, rows) -> seen.add(new int[] {jobs, images, rows}));
        int jobs = 4;
        ExecutorService pool = Executors.newFixedThreadPool(jobs);
        try (NDManager root = NDManager.newBaseManager()) {
            List<Future<float[][]>> futures = new ArrayList<>();
            for (int j = 0; j < jobs; j++) {
                int job = j;
                futures.add(pool.submit(() -> run(batcher, root, job, 6 + job, true)));
            }
            for (int j = 0; j < jobs; j++) {
                float[][] together = futures.get(j).get(60, TimeUnit.SECONDS);
                float[][] alone = run(batcher, root, j, 6 + j, false);
                for (int s = 0; s < alone.length; s++) {
                    assertArrayEquals(alone[s], together[s], "job " + j + " step " + s);
                }
            }
            assertTrue(seen.stream().anyMatch(f -> f[0] > 1), "some forward served more than one job");
            int calls = seen.stream().mapToInt(f -> f[0]).sum();
            assertEquals(6 + 7 + 8 + 9, calls, "every call served once");
            assertEquals(0, batcher.lanes());
        } finally {
            pool.shutdownNow();
        }
    }

    /** {@code steps} calls of one job (rows = job + 1), each on its own step manager; the outputs as floats. */
    private static float[][] run(StepBatcher batcher, NDManager root, int job, int steps, boolean inLane) {
        Lane lane = inLane ? batcher.join(job + 1) : null;
        try (NDManager jobManager = root.newSubManager()) {
            float[][] out = new float[steps][];
            int rows = job + 1;
            float[] bias = new float[rows];
            Arrays.fill(bias, job * 10f);
            Bias c = new Bias(bias);
            for (int s = 0; s < steps; s++) {
                try (NDManager step = jobManager.newSubManager()) {
                    NDArray x = step.arange(0f, rows * 3f).reshape(rows, 3).add(s);
                    NDArray y = batcher.forward(x, 1000.0 - 37 * s - job, c);
                    assertEquals(step, y.getManager(), "the output belongs to the caller's manager");
                    out[s] = y.toFloatArray();
                }
            }
            if (lane != null) {
                lane.leave();
            }
            return out;
        } finally {
            if (lane != null) {
                lane.close();
            }
        }
    }

    @Test
    void everyForwardOfJoinedJobsRunsOnTheBatchersOneSetUpThread() throws Exception {
        Toy toy = new Toy();
        List<String> forwardThreads = toy.threads;
        List<String> setUp = new CopyOnWriteArrayList<>();
        StepBatcher batcher = new StepBatcher(toy, () -> setUp.add(Thread.currentThread().getName()));
        batcher.configure(16, Duration.ofMillis(20));
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try (NDManager root = NDManager.newBaseManager()) {
            List<Future<float[][]>> futures = new ArrayList<>();
            for (int j = 0; j < 3; j++) {
                int job = j;
                futures.add(pool.submit(() -> run(batcher, root, job, 5, true)));
            }
            for (Future<float[][]> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, setUp.size(), "the forward thread is set up once: " + setUp);
        assertTrue(setUp.get(0).startsWith("jdiffuse-forward-"), setUp.get(0));
        assertEquals(java.util.Set.of(setUp.get(0)), java.util.Set.copyOf(forwardThreads),
                "every forward on that thread, none on the jobs' own");
    }

    @Test
    void aLoneJobCallsTheNetworkWithItsOwnArrays() {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(8, Duration.ofSeconds(5)); // a lone job must not wait for the window
        try (NDManager m = NDManager.newBaseManager(); Lane lane = batcher.join(1)) {
            NDArray x = m.ones(new Shape(2, 3));
            long t0 = System.nanoTime();
            for (int i = 0; i < 3; i++) {
                batcher.forward(x, 5.0, new Bias(new float[] {1, 2}));
            }
            assertTrue(System.nanoTime() - t0 < 2_000_000_000L, "no gathering window for a lone job");
            assertEquals(3, toy.inputs.size());
            toy.inputs.forEach(in -> assertTrue(in == x, "the caller's own input array"));
        }
    }

    /**
     * A job whose last step is done (reported) but which has not left yet is not waited for: it makes no more calls,
     * so another job's call runs at once instead of after the window (30 s here).
     */
    @Test
    void aJobThatReportedItsLastStepIsNotWaitedFor() throws Exception {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(8, Duration.ofSeconds(30));
        CountDownLatch reported = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (NDManager m = NDManager.newBaseManager()) {
            Future<?> finishing = pool.submit(() -> {
                try (Lane lane = batcher.join(1)) {
                    batcher.forward(m.ones(new Shape(2, 3)), 5.0, new Bias(new float[] {1, 2}));
                    lane.stepped(0, 1); // its only step is done; it has not left yet
                    reported.countDown();
                    done.await();
                    lane.leave();
                }
                return null;
            });
            assertTrue(reported.await(20, TimeUnit.SECONDS));
            try (Lane lane = batcher.join(1)) {
                long t0 = System.nanoTime();
                batcher.forward(m.ones(new Shape(2, 3)), 4.0, new Bias(new float[] {1, 2}));
                assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "waited for a job whose steps are done");
            } finally {
                done.countDown();
            }
            finishing.get(20, TimeUnit.SECONDS);
            assertEquals(2, toy.inputs.size());
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Jobs whose sampler makes two network calls a step (Heun) still share their last step's forward: after two calls
     * of a step and before its report, a job is one step further on, not two (review of session 13: counting each call
     * as a step made the job look done, and the first job to report ran its last step's forward alone). Job B reports
     * late (after job A's next call is in); the long window makes a shared forward independent of timing.
     */
    @Test
    void jobsWithTwoCallsAStepShareTheirLastStepsForward() throws Exception {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(8, Duration.ofSeconds(30));
        List<int[]> forwards = new CopyOnWriteArrayList<>();
        batcher.observe((jobs, images, rows) -> forwards.add(new int[] {jobs, rows}));
        java.util.concurrent.CyclicBarrier started = new java.util.concurrent.CyclicBarrier(2);
        CountDownLatch aCalledLastStep = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (NDManager m = NDManager.newBaseManager()) {
            List<Future<?>> jobs = new ArrayList<>();
            for (int j = 0; j < 2; j++) {
                boolean isA = j == 0;
                jobs.add(pool.submit(() -> {
                    try (Lane lane = batcher.join(1)) {
                        started.await(20, TimeUnit.SECONDS);
                        double t = 10;
                        for (int step = 0; step < 3; step++) {
                            int calls = step == 2 ? 1 : 2; // Heun: two calls a step, one in the last
                            for (int c = 0; c < calls; c++) {
                                if (isA && step == 2) {
                                    aCalledLastStep.countDown();
                                }
                                batcher.forward(m.ones(new Shape(2, 3)), t--, new Bias(new float[] {1, 2}));
                            }
                            if (!isA && step == 1) {
                                // B reports its second step only once A's last call is in (or has run alone)
                                aCalledLastStep.await(20, TimeUnit.SECONDS);
                                Thread.sleep(200);
                            }
                            lane.stepped(step, 3);
                        }
                        lane.leave();
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        List<String> shape = forwards.stream().map(f -> f[0] + "j").toList();
        assertEquals(List.of("2j", "2j", "2j", "2j", "2j"), shape, "every forward shared, the last step's too");
    }

    /** Opt-in: a lone job's forwards run on its own thread (no hand-off), with the same outputs. */
    @Test
    void aLoneJobsForwardsCanRunOnItsOwnThread() {
        Toy toy = new Toy();
        List<String> threads = toy.threads;
        StepBatcher batcher = new StepBatcher(toy);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(2, 3));
            float[] handed;
            try (Lane lane = batcher.join(1)) {
                handed = batcher.forward(x, 5.0, new Bias(new float[] {1, 2})).toFloatArray();
            }
            batcher.inlineLoneForwards(true);
            float[] inline;
            try (Lane lane = batcher.join(1)) {
                inline = batcher.forward(x, 5.0, new Bias(new float[] {1, 2})).toFloatArray();
            }
            assertTrue(threads.get(0).startsWith("jdiffuse-forward-"), threads.toString());
            assertEquals(Thread.currentThread().getName(), threads.get(1), "inline: on the job's thread");
            assertArrayEquals(handed, inline, 0f);
        }
    }

    /**
     * A pinned lane (a warm-up) runs on the forward thread even with inline lone forwards on, the same thread as
     * later jobs' forwards; after close the thread is gone and a forward fails instead of starting a new, cold one.
     */
    @Test
    void aPinnedLoneJobWarmsTheThreadThatServesLaterJobsUntilClose() {
        Toy toy = new Toy();
        List<String> threads = toy.threads;
        StepBatcher batcher = new StepBatcher(toy);
        batcher.inlineLoneForwards(true);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(2, 3));
            try (Lane lane = batcher.join(1).pinToForwardThread()) {
                batcher.forward(x, 5.0, new Bias(new float[] {1, 2}));
            }
            batcher.inlineLoneForwards(false);
            try (Lane lane = batcher.join(1)) {
                batcher.forward(x, 5.0, new Bias(new float[] {1, 2}));
            }
            assertTrue(threads.get(0).startsWith("jdiffuse-forward-"), threads.toString());
            assertEquals(threads.get(0), threads.get(1), "one forward thread for both");
            batcher.close();
            try (Lane lane = batcher.join(1)) {
                assertThrows(java.util.concurrent.RejectedExecutionException.class,
                        () -> batcher.forward(x, 5.0, new Bias(new float[] {1, 2})));
            }
            assertEquals(2, threads.size(), "no forward after close");
        }
    }

    /** A joined job's other device work runs on the forward thread; without a lane, on the caller's. */
    @Test
    void otherDeviceWorkOfAJoinedJobRunsWhereItsForwardsRun() {
        StepBatcher batcher = new StepBatcher(new Toy());
        String here = Thread.currentThread().getName();
        assertEquals(here, batcher.whereForwardsRun(() -> Thread.currentThread().getName()), "no lane");
        try (Lane lane = batcher.join(1)) {
            String there = batcher.whereForwardsRun(() -> Thread.currentThread().getName());
            assertTrue(there.startsWith("jdiffuse-forward-"), there);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> batcher.whereForwardsRun(
                    () -> {
                        throw new IllegalArgumentException("as thrown");
                    }));
            assertEquals("as thrown", e.getMessage(), "what the work throws reaches the caller as it was");
        }
        StepBatcher other = new StepBatcher(new Toy());
        try (Lane lane = other.join(1)) {
            assertEquals(here, batcher.whereForwardsRun(() -> Thread.currentThread().getName()),
                    "a lane of another batcher");
        }
    }

    /** Work with no batcher at hand (a job's text encoding) runs on the forward thread of the job's own batcher. */
    @Test
    void workOfTheCurrentLaneRunsOnItsBatchersForwardThread() {
        String here = Thread.currentThread().getName();
        assertEquals(here, StepBatcher.whereCurrentLaneForwardsRun(() -> Thread.currentThread().getName()),
                "no lane: right here");
        StepBatcher a = new StepBatcher(new Toy());
        StepBatcher b = new StepBatcher(new Toy());
        String threadOfA = a.onForwardThread(() -> Thread.currentThread().getName());
        String threadOfB = b.onForwardThread(() -> Thread.currentThread().getName());
        assertNotEquals(threadOfA, threadOfB);
        try (Lane lane = b.join(1)) {
            assertEquals(threadOfB, StepBatcher.whereCurrentLaneForwardsRun(() -> Thread.currentThread().getName()),
                    "the lane's own batcher");
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> StepBatcher.whereCurrentLaneForwardsRun(() -> {
                        throw new IllegalStateException("as thrown");
                    }));
            assertEquals("as thrown", e.getMessage());
        }
        assertEquals(here, StepBatcher.whereCurrentLaneForwardsRun(() -> Thread.currentThread().getName()),
                "the lane closed: right here again");
        a.close();
        b.close();
    }

    @Test
    void aCancelledJobLeavesItsWaitingCallAtOnce() throws Exception {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(8, Duration.ofSeconds(30));
        CountDownLatch otherCalled = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch joined = new CountDownLatch(1);
        AtomicInteger outcome = new AtomicInteger();
        Lane[] waitingLane = new Lane[1];
        try (NDManager m = NDManager.newBaseManager()) {
            Thread other = new Thread(() -> {
                try (Lane l = batcher.join(1)) {
                    batcher.forward(m.ones(new Shape(1, 3)), 1.0, new Bias(new float[] {0}));
                    otherCalled.countDown();
                    release.await(); // expected at its next step but not calling: the window holds the other job
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            other.start();
            assertTrue(otherCalled.await(10, TimeUnit.SECONDS));
            Thread waiting = new Thread(() -> {
                try (Lane l = batcher.join(1)) {
                    waitingLane[0] = l;
                    joined.countDown();
                    batcher.forward(m.ones(new Shape(1, 3)), 2.0, new Bias(new float[] {0}));
                    outcome.set(1);
                } catch (CancellationException e) {
                    outcome.set(2);
                }
            });
            waiting.start();
            assertTrue(joined.await(10, TimeUnit.SECONDS));
            Thread.sleep(300); // the call now waits for the other job (30 s window)
            assertEquals(0, outcome.get(), "held by the gathering window");
            long t0 = System.nanoTime();
            waitingLane[0].cancel();
            waiting.join(10_000);
            assertEquals(2, outcome.get(), "the waiting call threw CancellationException");
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "at once, not after the window");
            assertEquals(1, toy.rowsPerForward.size(), "the cancelled call never reached the network");
            release.countDown();
            other.join(10_000);
            assertEquals(0, batcher.lanes());
            assertThrows(IllegalStateException.class, () -> {
                try (Lane l = batcher.join(1); Lane again = batcher.join(1)) {
                    l.leave();
                }
            });
        }
    }

    /**
     * A burst of jobs that joined together but reach their first step a few milliseconds apart (prompts encoded one
     * after another) shares its first forward, so they run their steps in the same forwards and finish together.
     */
    @Test
    void jobsStartingTogetherShareTheirFirstForward() throws Exception {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(16, Duration.ofMillis(500));
        List<int[]> seen = new CopyOnWriteArrayList<>();
        batcher.observe((jobs, images, rows) -> seen.add(new int[] {jobs, images, rows}));
        int jobs = 4;
        CountDownLatch allJoined = new CountDownLatch(jobs);
        ExecutorService pool = Executors.newFixedThreadPool(jobs);
        try (NDManager m = NDManager.newBaseManager()) {
            List<Future<?>> futures = new ArrayList<>();
            for (int j = 0; j < jobs; j++) {
                int job = j;
                futures.add(pool.submit(() -> {
                    try (Lane lane = batcher.join(1)) {
                        allJoined.countDown();
                        allJoined.await();
                        sleep(40L * job); // its own start-up work, shorter than the window
                        for (int s = 0; s < 3; s++) {
                            batcher.forward(m.ones(new Shape(1, 3)), 10.0 - s, new Bias(new float[] {job}));
                        }
                        lane.leave();
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(jobs, seen.get(0)[0], "the first forward served every starting job");
        assertEquals(3, seen.size(), "three forwards for three steps of four jobs: " + seen.size());
    }

    /**
     * The group of a forward is taken when the forward thread is free to run it: a call that arrives while the
     * thread still finishes earlier work (another job's prompt encoding) rides along with the call that found the
     * forward ready, instead of waiting a whole forward.
     */
    @Test
    void callsArrivingWhileTheForwardThreadIsBusyJoinTheNextForward() throws Exception {
        Toy toy = new Toy();
        StepBatcher batcher = new StepBatcher(toy);
        batcher.configure(16, Duration.ZERO); // no gathering window: a call never waits for another
        List<int[]> seen = new CopyOnWriteArrayList<>();
        batcher.observe((jobs, images, rows) -> seen.add(new int[] {jobs, images, rows}));
        CountDownLatch busy = new CountDownLatch(1);
        Thread occupier = new Thread(() -> batcher.onForwardThread(() -> {
            busy.countDown();
            sleep(400);
            return null;
        }));
        occupier.start();
        assertTrue(busy.await(10, TimeUnit.SECONDS));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (NDManager m = NDManager.newBaseManager()) {
            List<Future<?>> futures = new ArrayList<>();
            for (int j = 0; j < 2; j++) {
                int job = j;
                futures.add(pool.submit(() -> {
                    try (Lane lane = batcher.join(1)) {
                        sleep(100L * job); // the second job calls well after the first found its forward ready
                        batcher.forward(m.ones(new Shape(1, 3)), 10.0, new Bias(new float[] {job}));
                        lane.leave();
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
            occupier.join(10_000);
        }
        assertEquals(1, seen.size(), "one forward for both calls");
        assertEquals(2, seen.get(0)[0]);
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
