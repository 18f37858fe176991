package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LaneListener;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.PreviewSpec;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code --warmup-batches}: right after a model loads, one short generation per listed batch size at the model's
 * default size, so that the first users do not pay what PyTorch spends on a batch shape it meets for the first time.
 *
 * <p>Why: on the GPU, the first forward at a new batch size costs 0.6-1.2 s in PyTorch itself (cuDNN plans, lazily
 * loaded kernels; measured for diffusers' own UNet and for this server, docs/perf/h200-2026-12-04-session5.jsonl,
 * {@code first_shape_probe}), and under continuous batching every count of running jobs is a new size: sixteen users
 * arriving together meet up to sixteen. A generation of batch b runs the denoiser at the rows b jobs of one image
 * give (2b with classifier-free guidance), encodes b prompts and decodes b latents, so it meets the same shapes.
 * Other image sizes still pay their first time.
 *
 * <p>Where the model batches across requests, each warm-up generation runs in a lane of its {@link StepBatcher},
 * pinned to the batcher's forward thread: PyTorch keeps cuDNN's plans per thread, and that thread runs the forwards
 * and decodes of the jobs that share them. Measured on an H200 (session 8) when the warm-up ran on the loading thread
 * instead: the first 16-user burst after start was no faster (2.93 images/s against 3.15 without a warm-up) and the
 * serving thread's first forwards still took 0.5-1.2 s per new size.
 */
public final class WarmUp {

    /** The warm-up's prompt: ordinary text of ordinary length. */
    public static final String PROMPT = "a photograph of a lighthouse on a rocky coast at dusk";
    /** Two steps: every sampler's second-order or multistep update runs at least once. */
    public static final int STEPS = 2;

    private static final Logger LOG = LoggerFactory.getLogger(WarmUp.class);

    /** How long one batch size took. */
    public record Result(int batchSize, long millis) {
    }

    private WarmUp() {
    }

    /**
     * What {@code --warmup-batches auto} (the default) runs on a GPU: one image, so that the first user does not pay
     * for cuDNN's plans and, with {@code --cuda-graphs}, the capture of one image's graph (together 0.5-1.1 s on an
     * H100, session 15); nothing on the CPU, where a first forward costs no more than the next.
     */
    public static final List<Integer> GPU_DEFAULT = List.of(1);

    /**
     * {@code inner}, then a warm-up of every loaded pipeline at {@code batchSizes}; null: {@link #GPU_DEFAULT} on a
     * GPU device, none on the CPU; {@code inner} when none.
     */
    public static PipelineLoader warming(PipelineLoader inner, List<Integer> batchSizes) {
        if (batchSizes != null && batchSizes.isEmpty()) {
            return inner;
        }
        List<Integer> given = batchSizes == null ? null : List.copyOf(batchSizes);
        return (entry, device, dtype) -> {
            ImagePipeline p = inner.load(entry, device, dtype);
            List<Integer> sizes = given != null ? given
                    : ModelLoaders.device(device).isGpu() ? GPU_DEFAULT : List.of();
            if (!sizes.isEmpty()) {
                run(p, sizes);
            }
            return p;
        };
    }

    /**
     * Runs the warm-up generations; a model that refuses the plain request (e.g. one that needs a class label) or
     * fails is logged and left as loaded, never failed for it.
     */
    public static List<Result> run(ImagePipeline p, List<Integer> batchSizes) {
        PipelineDefaults d = p.defaults();
        List<Result> done = new ArrayList<>();
        for (int b : batchSizes) {
            GenerationRequest r = new GenerationRequest(PROMPT, "", d.width(), d.height(), STEPS, d.sampler(),
                    d.schedule(), d.guidanceScale(), 0.0, 0, b, null, List.of(), PreviewSpec.NONE, null, null,
                    List.of(), null, null);
            long t0 = System.nanoTime();
            StepBatcher batcher = p.stepBatcher();
            try {
                if (batcher == null) {
                    p.generate(r, GenerationListener.NONE);
                } else {
                    try (Lane lane = batcher.join(b).pinToForwardThread()) {
                        p.generate(r, new LaneListener(lane, GenerationListener.NONE));
                    }
                }
            } catch (RuntimeException e) {
                LOG.warn("warm-up of {} at batch {} stopped: {}", p.name(), b, e.getMessage());
                break;
            }
            done.add(new Result(b, (System.nanoTime() - t0) / 1_000_000));
        }
        if (!done.isEmpty()) {
            LOG.info("warmed up {} at {}x{}: {}", p.name(), d.width(), d.height(), done.stream()
                    .map(x -> "batch " + x.batchSize() + " " + x.millis() + " ms").toList());
        }
        return done;
    }

    /**
     * {@code "1-16"}, {@code "1,2,4,8"}, a mix, or empty / {@code "none"}: the batch sizes, ascending, each once;
     * {@code "auto"}: null (see {@link #warming}).
     */
    public static List<Integer> parse(String spec) {
        if (spec != null && spec.strip().equals("auto")) {
            return null;
        }
        if (spec == null || spec.isBlank() || spec.strip().equals("none")) {
            return List.of();
        }
        java.util.TreeSet<Integer> sizes = new java.util.TreeSet<>();
        for (String part : spec.split(",")) {
            String p = part.strip();
            try {
                int dash = p.indexOf('-');
                int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).strip());
                int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).strip());
                if (from < 1 || to > 256 || from > to) {
                    throw new IllegalArgumentException("--warmup-batches: '" + p + "' is not a size or range within "
                            + "1..256");
                }
                for (int i = from; i <= to; i++) {
                    sizes.add(i);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--warmup-batches: '" + p + "' is not a number or a range a-b");
            }
        }
        return List.copyOf(sizes);
    }
}
