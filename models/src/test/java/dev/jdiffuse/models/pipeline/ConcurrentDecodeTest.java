package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decoding of jobs that finish together, on the tiny SD 1.x fixture (CPU float32): jobs with different prompts,
 * seeds, guidance and batch sizes that share every forward decode in ONE VAE call and get the images they get run
 * alone (within 1e-5 on the [0, 1] image), and so do two jobs one forward apart; a lone job decodes at once in its
 * own call; a job whose pixels are not
 * finite fails alone; a job cancelled while it waits for its companions leaves, and the other decodes alone.
 */
class ConcurrentDecodeTest {

    private static final double TOL = 1e-5;
    /** Same sampler and steps (so the same forwards), guidance on for all (one conditioning layout). */
    private static final List<GenerationRequest> JOBS = List.of(
            GenerationRequest.of("a red apple on a wooden table", "blurry", 64, 64, 5, 7.5, 11)
                    .withSampler("euler", "default"),
            GenerationRequest.of("a blue boat on a calm lake", "", 64, 64, 5, 5.0, 22)
                    .withSampler("euler", "default"),
            batchOfTwo(GenerationRequest.of("a yellow cat sleeping", "dark", 64, 64, 5, 6.0, 44)
                    .withSampler("euler", "default")));

    private static DiffusionPipeline pipe;
    private static List<float[]> alone;
    private final List<int[]> decodes = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void runAlone() {
        Fixtures.require("pipeline_sd1/model");
        pipe = SdLoader.openFolder(Fixtures.root().resolve("pipeline_sd1/model"), "sd1", LoadOptions.cpu());
        alone = new ArrayList<>();
        for (GenerationRequest r : JOBS) {
            alone.add(ConcurrentJobs.image(pipe, r, GenerationListener.NONE));
        }
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    @AfterEach
    void reset() {
        pipe.latentsBeforeDecode = UnaryOperator.identity();
        pipe.stepBatcher().gatherer().observe(null);
        assertEquals(0, pipe.stepBatcher().lanes());
        assertEquals(0, pipe.stepBatcher().gatherer().waiting());
    }

    private StepBatcher batcher(Duration window) {
        StepBatcher b = pipe.stepBatcher();
        b.configure(8, window);
        b.gatherer().observe((jobs, rows) -> decodes.add(new int[] {jobs, rows}));
        return b;
    }

    @Test
    void jobsThatFinishTogetherDecodeInOneCallAndGetTheirLoneImages() throws Exception {
        batcher(Duration.ofSeconds(2));
        int arrays = pipe.liveArrays();
        List<Object> together = ConcurrentJobs.inStep(pipe, JOBS, (j, lane) -> { });
        for (int j = 0; j < JOBS.size(); j++) {
            double max = maxDiff(alone.get(j), image(together.get(j)));
            System.out.printf("ConcurrentDecodeTest: job %d max|diff| %.3g%n", j, max);
            assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
        }
        assertEquals(1, decodes.size(), "one VAE call: " + describe(decodes));
        assertArrayEquals(new int[] {3, 4}, decodes.get(0), "three jobs, four images");
        assertEquals(arrays, pipe.liveArrays(), "nothing left under the pipeline's manager");
    }

    @Test
    void aLoneJobDecodesAtOnceInItsOwnCall() throws Exception {
        Duration window = Duration.ofSeconds(30);
        batcher(window);
        long t0 = System.nanoTime();
        List<Object> out = ConcurrentJobs.inStep(pipe, JOBS.subList(0, 1), (j, lane) -> { });
        long took = System.nanoTime() - t0;
        assertTrue(maxDiff(alone.get(0), image(out.get(0))) <= TOL);
        assertEquals(1, decodes.size());
        assertArrayEquals(new int[] {1, 1}, decodes.get(0), "its own call");
        assertTrue(took < window.toNanos(), "no gathering window for a lone job: " + took / 1e9 + " s");
    }

    @Test
    void aJobWhosePixelsAreNotFiniteFailsAlone() throws Exception {
        batcher(Duration.ofSeconds(2));
        ThreadLocal<Boolean> poisoned = ThreadLocal.withInitial(() -> false);
        pipe.latentsBeforeDecode = latents -> poisoned.get() ? latents.mul(Float.NaN) : latents;
        List<Object> together = ConcurrentJobs.inStep(pipe, JOBS, (j, lane) -> poisoned.set(j == 1));
        GenerationException e = assertInstanceOf(GenerationException.class, together.get(1));
        assertEquals(GenerationException.Kind.NON_FINITE_OUTPUT, e.kind());
        for (int j : new int[] {0, 2}) {
            double max = maxDiff(alone.get(j), image(together.get(j)));
            assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
        }
        assertEquals(1, decodes.size(), "the NaN rows shared the call: " + describe(decodes));
        assertArrayEquals(new int[] {3, 4}, decodes.get(0));
    }

    @Test
    void aJobCancelledWhileWaitingForItsCompanionLeavesAndTheOtherDecodesAlone() throws Exception {
        StepBatcher b = batcher(Duration.ofSeconds(2));
        CountDownLatch release = new CountDownLatch(1);
        ThreadLocal<Boolean> held = ThreadLocal.withInitial(() -> false);
        pipe.latentsBeforeDecode = latents -> {
            if (held.get()) {
                // a short window for the steps (the first step's wait), a long one once the jobs have finished, so
                // that job 0 is still waiting when it is cancelled (the gatherer re-reads the window as it waits)
                b.configure(8, Duration.ofSeconds(30));
                try {
                    release.await(120, TimeUnit.SECONDS); // left, not decoding yet: job 0 waits for it
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
            }
            return latents;
        };
        Lane[] lanes = new Lane[2];
        CompletableFuture<List<Object>> run = CompletableFuture.supplyAsync(() -> {
            try {
                return ConcurrentJobs.inStep(pipe, JOBS.subList(0, 2), (j, lane) -> {
                    lanes[j] = lane;
                    held.set(j == 1);
                });
            } catch (Exception ex) {
                throw new IllegalStateException(ex);
            }
        });
        long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (b.gatherer().waiting() != 1) {
            assertTrue(System.nanoTime() < end, "job 0 never waited for its companion");
            Thread.sleep(10);
        }
        long t0 = System.nanoTime();
        lanes[0].cancel();
        while (b.gatherer().waiting() != 0) {
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the cancelled call did not leave");
            Thread.sleep(10);
        }
        release.countDown();
        List<Object> out = run.get(120, TimeUnit.SECONDS);
        assertInstanceOf(CancellationException.class, out.get(0));
        assertTrue(maxDiff(alone.get(1), image(out.get(1))) <= TOL, "the other job's image");
        assertEquals(1, decodes.size(), "only the other job decoded: " + describe(decodes));
        assertArrayEquals(new int[] {1, 1}, decodes.get(0));
    }

    /**
     * A job that joined one forward late (the last users of a burst, whose requests came in a little later) finishes
     * one forward after the first job; the first job's decoding waits for that forward and both decode in one call,
     * each with its lone image.
     */
    @Test
    void aJobOneForwardBehindDecodesWithTheJobAhead() throws Exception {
        staggered(2);
        assertEquals(1, decodes.size(), "one VAE call: " + describe(decodes));
        assertArrayEquals(new int[] {2, 2}, decodes.get(0), "two jobs, two images");
    }

    /**
     * Three jobs one forward apart: the first waits for the second (one forward behind it), but not for the third,
     * which is one forward behind the second only (else a stream of jobs one step apart would chain every decoding
     * to the next job until the cap).
     */
    @Test
    void aDecodeWaitsForOneForwardOnlyNotForAChainOfLateJobs() throws Exception {
        staggered(3);
        assertEquals(2, decodes.size(), "two VAE calls: " + describe(decodes));
        assertArrayEquals(new int[] {2, 2}, decodes.get(0), "the first two jobs together");
        assertArrayEquals(new int[] {1, 2}, decodes.get(1), "the third (a batch of two) alone");
    }

    /**
     * Jobs whose sampler makes two network calls a step (Heun) share every forward, the last step's too, and decode in
     * one call with their lone images (the lanes' step estimate counts a step's calls as one step).
     */
    @Test
    void heunJobsShareTheirLastStepAndDecodeTogether() throws Exception {
        List<GenerationRequest> heun = List.of(JOBS.get(0).withSampler("heun", "default"),
                JOBS.get(1).withSampler("heun", "default"));
        List<float[]> lone = new ArrayList<>();
        for (GenerationRequest r : heun) {
            lone.add(ConcurrentJobs.image(pipe, r, GenerationListener.NONE));
        }
        StepBatcher b = batcher(Duration.ofSeconds(2));
        List<int[]> forwards = new CopyOnWriteArrayList<>();
        b.observe((jobs, images, rows) -> forwards.add(new int[] {jobs, rows}));
        try {
            List<Object> together = ConcurrentJobs.inStep(pipe, heun, (j, lane) -> { });
            for (int j = 0; j < heun.size(); j++) {
                assertTrue(maxDiff(lone.get(j), image(together.get(j))) <= TOL, "job " + j);
            }
        } finally {
            b.observe(null);
        }
        // inStep lines the jobs up after their first step; the last step's forward is the one in question
        assertEquals(2, forwards.get(forwards.size() - 1)[0], "the last step's forward shared: " + describe(forwards));
        assertEquals(1, decodes.size(), "one VAE call: " + describe(decodes));
        assertArrayEquals(new int[] {2, 2}, decodes.get(0));
    }

    /**
     * The first {@code n} jobs, each started by the one before at that job's first step, so that each joins the
     * shared forwards one forward after the one before it (made deterministic: a job goes on from its first step only
     * once the next job's first call is pending, which then waits for the running jobs' calls; a long window, so a
     * decode that failed to wait shows as more calls, not as a timing). Asserts each job's lone image.
     */
    private void staggered(int n) throws Exception {
        StepBatcher b = batcher(Duration.ofSeconds(30));
        List<CountDownLatch> starts = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            starts.add(new CountDownLatch(j == 0 ? 0 : 1));
        }
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(n);
        try {
            List<java.util.concurrent.Future<float[]>> futures = new ArrayList<>();
            for (int j = 0; j < n; j++) {
                int job = j;
                GenerationListener startsTheNext = new GenerationListener() {
                    @Override
                    public void onStep(int step, int steps, double sigma) {
                        if (step != 0 || job == n - 1) {
                            return;
                        }
                        starts.get(job + 1).countDown();
                        // the pending calls: the next job's first and those of the jobs ahead of this one (this
                        // one's thread is here, so its own call is not among them)
                        long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
                        while (b.pendingCalls() != job + 1) {
                            if (System.nanoTime() > end) {
                                throw new IllegalStateException("job " + (job + 1) + " never called");
                            }
                            Thread.onSpinWait();
                        }
                    }
                };
                futures.add(pool.submit(() -> {
                    starts.get(job).await(120, TimeUnit.SECONDS);
                    try (Lane lane = b.join(JOBS.get(job).batchSize())) {
                        return ConcurrentJobs.image(pipe, JOBS.get(job), new LaneListener(lane, startsTheNext));
                    }
                }));
            }
            for (int j = 0; j < n; j++) {
                float[] image = futures.get(j).get(300, TimeUnit.SECONDS);
                assertTrue(maxDiff(alone.get(j), image) <= TOL, "job " + j + "'s image");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static float[] image(Object result) {
        if (result instanceof RuntimeException e) {
            throw new AssertionError("the job failed", e);
        }
        return (float[]) result;
    }

    private static double maxDiff(float[] a, float[] b) {
        return ConcurrentJobs.maxDiff(a, b);
    }

    private static String describe(List<int[]> calls) {
        return calls.stream().map(c -> c[0] + " jobs/" + c[1] + " images").toList().toString();
    }

    private static GenerationRequest batchOfTwo(GenerationRequest r) {
        return new GenerationRequest(r.prompt(), r.negativePrompt(), r.width(), r.height(), r.steps(), r.sampler(),
                r.schedule(), r.guidanceScale(), r.guidanceRescale(), r.seed(), 2, r.classLabel(), r.controlnets(),
                r.preview(), r.init(), r.variation());
    }
}
