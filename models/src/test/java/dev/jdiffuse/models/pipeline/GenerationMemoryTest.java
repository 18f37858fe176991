package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A generation run 100 times (ControlNet, CFG, a stochastic sampler, previews every step) leaves no native memory
 * behind: the pipeline's manager holds exactly the same arrays afterwards (every intermediate lived in the job's
 * manager and the per-step sub-managers), and the process's resident memory stays flat.
 */
class GenerationMemoryTest {

    private static final int RUNS = 100;

    @Test
    void hundredGenerationsLeaveNoNativeMemoryBehind() throws IOException {
        Path dir = Fixtures.require("pipeline_controlnet");
        BufferedImage control = ImageIO.read(dir.resolve("control.png").toFile());
        try (DiffusionPipeline pipe = SdLoader.openFolder(dir.resolve("model"), "mem", LoadOptions.cpu())) {
            GenerationRequest r = GenerationRequest.of("a blue circle above a yellow square", "blurry", 64, 64, 3, 5.0,
                    1).withSampler("euler_ancestral", "default")
                    .withControlnets(List.of(new ControlSpec("controlnet", control, 0.7, 0.0, 0.8)))
                    .withPreview(new PreviewSpec(PreviewSpec.Method.RGB, 1, 64));
            int[] previews = {0};
            GenerationListener counting = new GenerationListener() {
                @Override
                public void onPreview(Preview preview) {
                    previews[0]++;
                }
            };
            for (int i = 0; i < 5; i++) {
                pipe.generate(r, counting);
            }
            int arraysBefore = pipe.liveArrays();
            for (int i = 0; i < RUNS / 2; i++) {
                pipe.generate(r, counting);
            }
            // resident memory is measured over the second half only: the first runs grow the native allocators'
            // arenas and caches once (seen as 70-115 MB on some runs of this machine), which then settles, while a
            // leak keeps growing at its rate
            long rssBefore = residentBytes();
            long heapBefore = jvmCommittedBytes();
            for (int i = RUNS / 2; i < RUNS; i++) {
                pipe.generate(r, counting);
            }
            int arraysAfter = pipe.liveArrays();
            long rssAfter = residentBytes();
            long heapGrowth = Math.max(0, jvmCommittedBytes() - heapBefore);
            assertEquals(105 * 3, previews[0], "a preview per step");
            assertEquals(arraysBefore, arraysAfter, "arrays alive under the pipeline's manager after " + RUNS + " runs");
            if (rssBefore > 0) {
                // native memory is what could leak here: the JVM growing its own heap (earlier tests in the same
                // JVM leave it mid-growth) shows in RSS too, so it is taken out
                long growth = rssAfter - rssBefore - heapGrowth;
                System.out.printf("GenerationMemoryTest: RSS %d MB -> %d MB over the last %d runs, JVM heap and "
                        + "metaspace committed +%d MB%n", rssBefore >> 20, rssAfter >> 20, RUNS / 2, heapGrowth >> 20);
                // a leak of one 64x64 run's intermediates per run would be >50 MB over 50 runs
                assertTrue(growth < 24L << 20, "resident memory grew by " + (growth >> 20) + " MB over " + (RUNS / 2)
                        + " runs");
            }
        }
    }

    /**
     * The detector above, shown to detect: a run that leaves one small array in the pipeline's manager (made from the
     * final latents, attached to the job manager's parent) is seen once per run, so "the same arrays afterwards" is a
     * check that can fail.
     */
    @Test
    void theArrayCountSeesOneLeakedArrayPerRun() {
        Path dir = Fixtures.require("pipeline_sd1");
        try (DiffusionPipeline pipe = SdLoader.openFolder(dir.resolve("model"), "leak", LoadOptions.cpu())) {
            GenerationRequest r = GenerationRequest.of("a red apple", "", 64, 64, 2, 5.0, 1);
            pipe.generate(r, GenerationListener.NONE);
            int before = pipe.liveArrays();
            pipe.latentsBeforeDecode = latents -> {
                latents.getManager().getParentManager().create(new float[] {1f}); // the leak
                return latents;
            };
            for (int i = 0; i < 3; i++) {
                pipe.generate(r, GenerationListener.NONE);
            }
            assertEquals(before + 3, pipe.liveArrays(), "one leaked array per run");
        }
    }

    /**
     * FLUX keeps its RoPE tables in the weights' manager per layout: after the first run at a size the pipeline's
     * manager holds the same arrays whatever the number of runs (nothing computed from the kept tables lands there),
     * and a second size adds its two tables once.
     */
    @Test
    void fluxKeepsOneSetOfPositionTablesPerSizeAndNothingElse() {
        Path model = Fixtures.require("layouts/flux_dev/model");
        try (DiffusionPipeline base = Pipelines.open(model, LoadOptions.cpu())) {
            DiffusionPipeline pipe = dev.jdiffuse.models.pipeline.flux.FluxFamily.withMaxSequenceLength(base, 32);
            GenerationRequest r = GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 2, 3.5, 1);
            // the first run may also make what other parts keep once (the op-by-op CLIP path's causal mask...)
            pipe.generate(r, GenerationListener.NONE);
            int afterFirst = pipe.liveArrays();
            for (int i = 0; i < 5; i++) {
                pipe.generate(r, GenerationListener.NONE);
            }
            assertEquals(afterFirst, pipe.liveArrays(), "nothing else stays after more runs at that size");
            pipe.generate(r.withSize(96, 64), GenerationListener.NONE);
            assertEquals(afterFirst + 2, pipe.liveArrays(), "a second size keeps its own cos and sin tables");
            pipe.generate(r.withSize(96, 64), GenerationListener.NONE);
            assertEquals(afterFirst + 2, pipe.liveArrays(), "and reuses them");
        }
    }

    /** Memory the JVM itself has committed (heap and non-heap: metaspace, code cache). */
    private static long jvmCommittedBytes() {
        MemoryMXBean m = ManagementFactory.getMemoryMXBean();
        return m.getHeapMemoryUsage().getCommitted() + m.getNonHeapMemoryUsage().getCommitted();
    }

    /** VmRSS from /proc/self/status, or -1 where there is none. */
    private static long residentBytes() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.exists(status)) {
            return -1;
        }
        System.gc();
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }
}
