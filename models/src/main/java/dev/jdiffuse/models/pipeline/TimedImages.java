package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;

/**
 * The outcome of a pipeline run: the image tensor [B, 3, H, W] float32 in [0, 1] (in the job's manager), the resolved
 * sampler and schedule, and where the time went.
 */
public record TimedImages(NDArray image, SchedulerSelection.Resolved resolved, long encodeMillis, long denoiseMillis,
        long decodeMillis) {

    /** A pipeline's run from given unit-normal initial latents and a noise source. */
    @FunctionalInterface
    public interface Run {
        TimedImages run(NDManager job, NDArray initialNoise, NoiseSource noise);
    }

    /**
     * What every pipeline's {@code generate} does: a job manager under the weights' manager (closed however the run
     * ends), the request's seed as torch's CPU noise stream for the initial latents of {@code shape} and the
     * sampler's draws, then 8-bit images.
     */
    public static GenerationResult generate(NDManager weights, GenerationRequest request, Shape shape, Run run) {
        try (NDManager job = weights.newSubManager()) {
            TorchCpuNoise noise = new TorchCpuNoise(request.seed());
            NDArray initial = noise.normal(job, shape);
            TimedImages t = run.run(job, initial, noise);
            return new GenerationResult(Images.toBufferedImages(t.image()), request.seed(), t.resolved().samplerName(),
                    t.resolved().scheduleName(), t.resolved().schedule().sigmas(), t.encodeMillis(),
                    t.denoiseMillis(), t.decodeMillis());
        }
    }
}
