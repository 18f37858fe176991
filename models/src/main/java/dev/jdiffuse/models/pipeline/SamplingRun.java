package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.schedulers.SamplingSchedule;

/**
 * The sampling part every pipeline shares: scale the unit noise into the first sample, run the sampler with progress
 * and previews, and hand back the clean latents in the model's own space.
 */
public final class SamplingRun {

    private SamplingRun() {
    }

    /**
     * @param noise unit Gaussian initial latents [B, C, h, w] (float32), in the job's manager
     * @param flow whether the model is a rectified-flow model ({@code x = (1 - sigma) x0 + sigma eps})
     * @return latents at the schedule's last noise level, as the VAE expects them: diffusion samplers keep
     *     {@code x = x0 + sigma eps}, so a non-zero final sigma (DDIM without {@code set_alpha_to_one}) is mapped back to
     *     the variance-preserving sample {@code x / sqrt(1 + sigma^2)} diffusers decodes
     * @throws GenerationException if the result holds NaN or infinite values
     */
    public static NDArray sample(SchedulerSelection.Resolved resolved, Denoiser denoiser, Conditioning conditioning,
            NDArray noise, NoiseSource noiseSource, GenerationListener listener, PreviewRenderer previews,
            PreviewSpec preview, boolean flow) {
        SamplingSchedule schedule = resolved.schedule();
        NDArray x = noise.mul((float) schedule.initNoiseSigma());
        StepListener steps = (step, total, sigma, sample, denoised) -> {
            listener.onStep(step, total, sigma);
            if (preview.wants(step, total) && previews.supports(preview.method())) {
                listener.onPreview(previews.render(step, denoised, preview));
            }
        };
        NDArray out = resolved.sampler().sample(denoiser, x, schedule, conditioning, noiseSource, steps);
        double last = schedule.sigma(schedule.steps());
        if (!flow && last != 0) {
            out = out.div((float) Math.sqrt(1 + last * last));
        }
        if (out.isInfinite().logicalOr(out.isNaN()).any().getBoolean()) {
            throw new GenerationException("the sampler produced NaN or infinite latents (numerical overflow: try "
                    + "another sampler, fewer guidance, or float32)");
        }
        return out;
    }
}
