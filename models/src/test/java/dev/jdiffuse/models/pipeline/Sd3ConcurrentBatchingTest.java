package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching for the SD3 family on its tiny fixture (MMDiT, flow matching): three jobs with different
 * prompts, samplers, step counts, guidance and seeds, run at once each in its own lane, give the images they give run
 * one by one (CPU float32, within 1e-5 on the [0, 1] image), and forwards of several jobs did happen.
 */
class Sd3ConcurrentBatchingTest {

    private static final double TOL = 1e-5;

    @Test
    void concurrentSd3JobsEqualTheSameJobsRunAlone() throws Exception {
        Fixtures.require("pipeline_sd3");
        List<GenerationRequest> jobs = List.of(
                GenerationRequest.of("a red apple on a wooden table", "blurry", 64, 64, 5, 5.0, 11),
                GenerationRequest.of("a blue boat on a calm lake", "", 64, 64, 7, 3.5, 22),
                GenerationRequest.of("a green hill under a cloudy sky", "ugly", 64, 64, 4, 7.0, 33));
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.root().resolve("pipeline_sd3/model"),
                Pipelines.Options.cpu())) {
            assertEquals("sd3", pipe.family());
            StepBatcher batcher = pipe.stepBatcher();
            assertNotNull(batcher, "the SD3 family shares its transformer's forwards");
            batcher.configure(8, Duration.ofMillis(200));
            List<int[]> forwards = new CopyOnWriteArrayList<>();
            batcher.observe((n, images, rows) -> forwards.add(new int[] {n, images, rows}));
            List<float[]> alone = new ArrayList<>();
            for (GenerationRequest r : jobs) {
                alone.add(image(pipe, r, GenerationListener.NONE));
            }
            assertTrue(forwards.isEmpty(), "calls from threads without a lane go straight to the network");
            ExecutorService pool = Executors.newFixedThreadPool(jobs.size());
            try {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<float[]>> together = new ArrayList<>();
                for (GenerationRequest r : jobs) {
                    together.add(pool.submit(() -> {
                        start.await();
                        try (Lane lane = batcher.join(r.batchSize())) {
                            return image(pipe, r, new LaneListener(lane, GenerationListener.NONE));
                        }
                    }));
                }
                start.countDown();
                for (int j = 0; j < jobs.size(); j++) {
                    float[] a = alone.get(j);
                    float[] b = together.get(j).get(300, TimeUnit.SECONDS);
                    assertEquals(a.length, b.length);
                    double max = 0;
                    for (int i = 0; i < a.length; i++) {
                        max = Math.max(max, Math.abs(a[i] - b[i]));
                    }
                    System.out.printf("Sd3ConcurrentBatchingTest: job %d max|diff| %.3g%n", j, max);
                    assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
                }
            } finally {
                pool.shutdownNow();
            }
            int calls = forwards.stream().mapToInt(f -> f[0]).sum();
            long shared = forwards.stream().filter(f -> f[0] > 1).count();
            System.out.printf("Sd3ConcurrentBatchingTest: %d forwards for %d calls, %d of several jobs%n",
                    forwards.size(), calls, shared);
            assertTrue(shared > 0, "some forwards served more than one job");
            assertEquals(5 + 7 + 4, calls, "one network call per step and job");
            assertEquals(0, batcher.lanes());
        }
    }

    private static float[] image(DiffusionPipeline pipe, GenerationRequest r, GenerationListener listener) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, listener).image().toFloatArray();
        }
    }
}
