package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Inpainting with an ordinary (4-channel) model, as diffusers' {@code StableDiffusionInpaintPipeline}: after every
 * sampler step the known region is put back, re-noised to the level the step reached,
 * {@code latents = (1 - m) add_noise(x0, eps, t_next) + m latents}, with the clean init latents {@code x0} and the
 * initial noise {@code eps}; the last step blends the clean latents. Only the sample is blended: a multistep method's
 * history (diffusers' scheduler state) is left as the step wrote it.
 */
final class KnownRegionBlend implements Sampler {

    private final Sampler inner;
    private final NDArray mask;
    private final NDArray clean;
    private final NDArray noise;
    private final boolean flow;

    /**
     * @param mask [1, 1, h, w] (1 = repaint), broadcast over the latents
     * @param clean the init image's latents [B, C, h, w] in the diffusion model's space
     * @param noise the run's unit initial noise [B, C, h, w]
     * @param flow whether the sampler state is {@code (1 - sigma) x0 + sigma eps} (flow) or {@code x0 + sigma eps}
     */
    KnownRegionBlend(Sampler inner, NDArray mask, NDArray clean, NDArray noise, boolean flow) {
        this.inner = inner;
        this.mask = mask;
        this.clean = clean;
        this.noise = noise;
        this.flow = flow;
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = inner.step(s);
        NDArray known = s.isLast() ? finalState(clean, s.next(), flow) : noised(clean, noise, s.next(), flow);
        known.attach(x.getManager()); // freed with the step
        return x.sub(known).mul(mask).add(known); // m x + (1 - m) known
    }

    /**
     * Clean latents noised to {@code sigma}, in the sampler's state: {@code x0 + sigma eps} for diffusion models
     * (diffusers' {@code add_noise}, which is {@code sqrt(abar) x0 + sqrt(1 - abar) eps} in the variance-preserving
     * form), {@code (1 - sigma) x0 + sigma eps} for flow models ({@code scale_noise}).
     */
    static NDArray noised(NDArray clean, NDArray eps, double sigma, boolean flow) {
        // intermediates are closed here: they live in the job's manager, and this runs once per step
        try (NDArray scaledNoise = mul(eps, (float) sigma)) {
            if (!flow) {
                return clean.add(scaledNoise);
            }
            try (NDArray kept = mul(clean, (float) (1 - sigma))) {
                return kept.add(scaledNoise);
            }
        }
    }

    /**
     * The clean latents as the last step's state: diffusers blends {@code image_latents} itself after the last step
     * and decodes that; a diffusion sampler's final state {@code x} at a non-zero last sigma (DDIM without
     * {@code set_alpha_to_one}) is decoded as {@code x / sqrt(1 + sigma^2)}, so the state is the clean latents times
     * {@code sqrt(1 + sigma^2)}.
     */
    private static NDArray finalState(NDArray clean, double last, boolean flow) {
        return flow || last == 0 ? clean.duplicate() : mul(clean, (float) Math.sqrt(1 + last * last));
    }
}
