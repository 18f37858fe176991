package dev.jdiffuse.server;

import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.testkit.Fixtures;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.server.models.WarmUp;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * {@code --warmup-batches}: the loader wrapper runs one short generation per size, at the model's default size, on
 * every model it loads; a model that fails its warm-up is still loaded.
 */
class WarmUpTest {

    @Test
    void eachSizeRunsOnceAtTheDefaultSizeWithTwoSteps() throws Exception {
        ScriptedPipeline p = new ScriptedPipeline(0);
        ImagePipeline loaded = WarmUp.warming((entry, device, dtype) -> p, List.of(1, 3, 8)).load(null, "cpu",
                "fp32");
        assertSame(p, loaded);
        assertEquals(3, p.runsOf(WarmUp.PROMPT));
        assertEquals(8, p.last.batchSize(), "the sizes run in order");
        assertEquals(WarmUp.STEPS, p.last.steps());
        assertEquals(p.defaults().width(), p.last.width());
        assertEquals(p.defaults().height(), p.last.height());
        assertEquals(p.defaults().guidanceScale(), p.last.guidanceScale());
        assertEquals(3 * WarmUp.STEPS, p.stepsRun.get());
    }

    @Test
    void noSizesLeavesTheLoaderAsItIs() throws Exception {
        ScriptedPipeline p = new ScriptedPipeline(0);
        WarmUp.warming((entry, device, dtype) -> p, List.of()).load(null, "cpu", "fp32");
        assertEquals(0, p.runsOf(WarmUp.PROMPT));
    }

    @Test
    void autoWarmsNothingOnTheCpu() throws Exception {
        ScriptedPipeline p = new ScriptedPipeline(0);
        assertSame(p, WarmUp.warming((entry, device, dtype) -> p, WarmUp.parse("auto")).load(null, "cpu", "fp32"));
        assertEquals(0, p.runsOf(WarmUp.PROMPT), "auto: one image on a GPU only");
        assertEquals(List.of(1), WarmUp.GPU_DEFAULT);
    }

    @Test
    void aFailingWarmUpStopsButTheModelStaysLoaded() {
        ScriptedPipeline p = new ScriptedPipeline(0);
        List<WarmUp.Result> done = WarmUp.run(new FailingAtBatch(p, 2), List.of(1, 2, 4));
        assertEquals(List.of(1), done.stream().map(WarmUp.Result::batchSize).toList(), "stops at the failing size");
    }

    @Test
    void aRealPipelineTakesTheWarmUpRequest() {
        String fixture = "layouts/sd15/model";
        Fixtures.require(fixture);
        try (DiffusionPipeline p = Pipelines.open(Fixtures.root().resolve(fixture), LoadOptions.cpu())) {
            List<WarmUp.Result> done = WarmUp.run(p, List.of(1, 2));
            assertEquals(List.of(1, 2), done.stream().map(WarmUp.Result::batchSize).toList(), fixture);
        }
    }

    /**
     * The warm-up's forwards and decodes run on the model's forward thread, the one that serves its jobs' shared
     * forwards and decodes (PyTorch keeps cuDNN's plans per thread: warming another thread warms nothing).
     */
    @Test
    void theWarmUpRunsOnTheThreadThatServesTheJobs() {
        String fixture = "layouts/sd15/model";
        Fixtures.require(fixture);
        try (DiffusionPipeline p = Pipelines.open(Fixtures.root().resolve(fixture), LoadOptions.cpu())) {
            java.util.List<String> forwards = new java.util.concurrent.CopyOnWriteArrayList<>();
            java.util.List<String> decodes = new java.util.concurrent.CopyOnWriteArrayList<>();
            p.stepBatcher().observe((jobs, images, rows) -> forwards.add(Thread.currentThread().getName()));
            p.stepBatcher().gatherer().observe((jobs, rows) -> decodes.add(Thread.currentThread().getName()));
            p.stepBatcher().inlineLoneForwards(true); // a lone job would run on its own thread; the warm-up must not
            WarmUp.run(p, List.of(1, 2));
            assertTrue(forwards.size() >= 2 * WarmUp.STEPS, "forwards through the batcher: " + forwards);
            assertEquals(2, decodes.size(), "one decode per size: " + decodes);
            java.util.Set<String> threads = new java.util.HashSet<>(forwards);
            threads.addAll(decodes);
            assertEquals(1, threads.size(), "one thread: " + threads);
            assertTrue(threads.iterator().next().startsWith("jdiffuse-forward-"), threads.toString());
        }
    }

    /** {@code inner}, except that a generation of batch {@code failAt} fails as a real engine error would. */
    private record FailingAtBatch(ScriptedPipeline inner, int failAt) implements ImagePipeline {

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public String family() {
            return inner.family();
        }

        @Override
        public PipelineDefaults defaults() {
            return inner.defaults();
        }

        @Override
        public List<String> controlnets() {
            return inner.controlnets();
        }

        @Override
        public int pixelsPerLatent() {
            return inner.pixelsPerLatent();
        }

        @Override
        public SamplingSchedule schedule(GenerationRequest request) {
            return inner.schedule(request);
        }

        @Override
        public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
            if (request.batchSize() == failAt) {
                throw new GenerationException(GenerationException.Kind.FAILED, "the engine failed: CUDA out of memory");
            }
            return inner.generate(request, listener);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
