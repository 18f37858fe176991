package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Prompt encodings of jobs starting together, gathered into one CLIP call ({@link ClipTextModel#encode} through
 * {@code StepBatcher.startWork}): each job gets what it gets encoding alone, every output (last hidden state, pooled,
 * text embeds, every hidden state) within 1e-5 of its largest magnitude (fp32 on the CPU; the rows of one batched call
 * against calls of one prompt each), for an encoder with and one without a projection.
 */
class ClipGatheredEncodingTest {

    private static final double TOLERANCE = 1e-5;

    @Test
    void gatheredEncodingsEqualLoneOnes() throws Exception {
        check("layouts/sd15/model/text_encoder");
    }

    @Test
    void gatheredEncodingsEqualLoneOnesWithAProjection() throws Exception {
        check("layouts/sdxl/model/text_encoder_2");
    }

    private static void check(String folder) throws Exception {
        Path dir = Fixtures.require(folder);
        int jobs = 3;
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            ClipTextModel model = ClipTextModel.load(dir, weights, DataType.FLOAT32);
            int vocab = model.config().vocabSize();
            int[][][] ids = new int[jobs][][];
            for (int j = 0; j < jobs; j++) {
                ids[j] = new int[j + 1][77]; // job j encodes j + 1 rows (a batch of prompts)
                for (int b = 0; b <= j; b++) {
                    for (int i = 0; i < 77; i++) {
                        ids[j][b][i] = i == 0 ? model.config().bosTokenId() : i > 5 + 3 * j + b
                                ? model.config().eosTokenId() : (7 + 31 * i + 101 * j + 13 * b) % (vocab - 3) + 1;
                    }
                }
            }
            List<ClipTextOutput> alone = new ArrayList<>();
            for (int j = 0; j < jobs; j++) {
                alone.add(model.encode(act, ids[j])); // no lane: encoded right here, as before
            }
            model.gatherStartingJobs(true);
            StepBatcher batcher = new StepBatcher((x, t, c) -> x);
            List<int[]> runs = new CopyOnWriteArrayList<>();
            batcher.starts().observe((calls, rows) -> runs.add(new int[] {calls, rows}));
            CountDownLatch busy = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread occupier = new Thread(() -> {
                try (Lane l = batcher.join(1)) {
                    StepBatcher.whereCurrentLaneForwardsRun(() -> {
                        busy.countDown();
                        try {
                            release.await(10, TimeUnit.SECONDS); // another job's work keeps the thread busy
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return null;
                    });
                }
            });
            occupier.start();
            assertTrue(busy.await(10, TimeUnit.SECONDS));
            ExecutorService pool = Executors.newFixedThreadPool(jobs);
            CountDownLatch calling = new CountDownLatch(jobs);
            List<Future<ClipTextOutput>> together = new ArrayList<>();
            for (int j = 0; j < jobs; j++) {
                int job = j;
                together.add(pool.submit(() -> {
                    try (Lane l = batcher.join(job + 1)) {
                        calling.countDown();
                        return model.encode(act, ids[job]);
                    }
                }));
            }
            assertTrue(calling.await(10, TimeUnit.SECONDS));
            long until = System.nanoTime() + 10_000_000_000L;
            while (batcher.starts().waiting() < jobs && System.nanoTime() < until) {
                Thread.sleep(5); // until every job's call waits for the forward thread
            }
            release.countDown();
            for (int j = 0; j < jobs; j++) {
                compare(folder + " job " + j, alone.get(j), together.get(j).get(60, TimeUnit.SECONDS));
            }
            pool.shutdownNow();
            occupier.join(10_000);
            assertEquals(1, runs.size(), "one CLIP call for the three jobs");
            assertEquals(jobs, runs.get(0)[0]);
            assertEquals(1 + 2 + 3, runs.get(0)[1]);
        }
    }

    private static void compare(String what, ClipTextOutput a, ClipTextOutput b) {
        close(what + " last hidden state", a.lastHiddenState(), b.lastHiddenState());
        close(what + " pooled", a.pooled(), b.pooled());
        if (a.textEmbeds() == null) {
            assertNull(b.textEmbeds(), what + " has no text embeds");
        } else {
            close(what + " text embeds", a.textEmbeds(), b.textEmbeds());
        }
        assertEquals(a.hiddenStates().size(), b.hiddenStates().size(), what + " hidden states");
        for (int i = 0; i < a.hiddenStates().size(); i++) {
            close(what + " hidden state " + i, a.hiddenStates().get(i), b.hiddenStates().get(i));
        }
    }

    private static void close(String what, NDArray a, NDArray b) {
        assertEquals(a.getShape(), b.getShape(), what);
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double max = 0;
        double diff = 0;
        for (int i = 0; i < x.length; i++) {
            max = Math.max(max, Math.abs(x[i]));
            diff = Math.max(diff, Math.abs(x[i] - y[i]));
        }
        assertTrue(diff <= TOLERANCE * max, what + ": max |diff| " + diff + " of max " + max);
    }
}
