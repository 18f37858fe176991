package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * What the continuous-batching tests compare: the jobs run one by one (no lane: straight to the network), then all
 * at once, each on its own thread in its own lane of the pipeline's batcher, with the forwards the batcher reports.
 */
final class ConcurrentJobs {

    /**
     * @param forwardsAlone forwards the batcher reported while the jobs ran one by one
     * @param forwards {jobs, images, rows} of each forward while they ran together
     * @param liveArraysAfterAlone arrays under the pipeline's manager once the lone runs were done
     */
    record Outcome(List<float[]> alone, List<float[]> together, int forwardsAlone, List<int[]> forwards,
            int liveArraysAfterAlone) {

        /** Largest |difference| between job {@code j}'s image run together and run alone. */
        double maxDiff(int j) {
            return ConcurrentJobs.maxDiff(alone.get(j), together.get(j));
        }

        int calls() {
            return forwards.stream().mapToInt(f -> f[0]).sum();
        }

        long shared() {
            return forwards.stream().filter(f -> f[0] > 1).count();
        }
    }

    private ConcurrentJobs() {
    }

    /** Largest |a - b|; infinite for different lengths. */
    static double maxDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            return Double.POSITIVE_INFINITY;
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    static Outcome run(DiffusionPipeline pipe, List<GenerationRequest> jobs, int maxImages, Duration window)
            throws Exception {
        return run(pipe, jobs, maxImages, window, () -> { });
    }

    /** As above; {@code beforeTogether} runs after the jobs ran alone, before they run together. */
    static Outcome run(DiffusionPipeline pipe, List<GenerationRequest> jobs, int maxImages, Duration window,
            Runnable beforeTogether) throws Exception {
        StepBatcher batcher = pipe.stepBatcher();
        batcher.configure(maxImages, window);
        List<int[]> forwards = new CopyOnWriteArrayList<>();
        batcher.observe((n, images, rows) -> forwards.add(new int[] {n, images, rows}));
        List<float[]> alone = new ArrayList<>();
        for (GenerationRequest r : jobs) {
            alone.add(image(pipe, r, GenerationListener.NONE));
        }
        int forwardsAlone = forwards.size();
        forwards.clear();
        int arrays = pipe.liveArrays();
        beforeTogether.run();
        ExecutorService pool = Executors.newFixedThreadPool(jobs.size());
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<float[]>> futures = new ArrayList<>();
            for (GenerationRequest r : jobs) {
                futures.add(pool.submit(() -> {
                    start.await();
                    try (Lane lane = batcher.join(r.batchSize())) {
                        return image(pipe, r, new LaneListener(lane, GenerationListener.NONE));
                    }
                }));
            }
            start.countDown();
            List<float[]> together = new ArrayList<>();
            for (Future<float[]> f : futures) {
                together.add(f.get(300, TimeUnit.SECONDS));
            }
            return new Outcome(alone, together, forwardsAlone, List.copyOf(forwards), arrays);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The jobs at once, each on its own thread in its own lane of the pipeline's batcher, in step: every job waits at
     * its first step until all have done theirs, so jobs with equal step counts and samplers share every forward after
     * it and finish in the same one. {@code onThread} runs first on each job's thread with the job's index and lane.
     *
     * @return per job its image, or what it threw
     */
    static List<Object> inStep(DiffusionPipeline pipe, List<GenerationRequest> jobs,
            java.util.function.BiConsumer<Integer, Lane> onThread) throws Exception {
        StepBatcher batcher = pipe.stepBatcher();
        java.util.concurrent.CyclicBarrier firstStep = new java.util.concurrent.CyclicBarrier(jobs.size());
        ExecutorService pool = Executors.newFixedThreadPool(jobs.size());
        try {
            List<Future<Object>> futures = new ArrayList<>();
            for (int j = 0; j < jobs.size(); j++) {
                int job = j;
                futures.add(pool.submit(() -> {
                    GenerationRequest r = jobs.get(job);
                    GenerationListener waitAtFirst = new GenerationListener() {
                        @Override
                        public void onStep(int step, int steps, double sigma) {
                            if (step == 0) {
                                try {
                                    firstStep.await(120, TimeUnit.SECONDS);
                                } catch (Exception e) {
                                    throw new IllegalStateException("the jobs did not all reach their first step", e);
                                }
                            }
                        }
                    };
                    try (Lane lane = batcher.join(r.batchSize())) {
                        onThread.accept(job, lane);
                        return image(pipe, r, new LaneListener(lane, waitAtFirst));
                    } catch (RuntimeException e) {
                        return e;
                    }
                }));
            }
            List<Object> out = new ArrayList<>();
            for (Future<Object> f : futures) {
                out.add(f.get(300, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    static float[] image(DiffusionPipeline pipe, GenerationRequest r, GenerationListener listener) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, listener).image().toFloatArray();
        }
    }
}
