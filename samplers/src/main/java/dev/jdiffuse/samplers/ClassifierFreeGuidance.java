package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;
import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Classifier-free guidance (Ho and Salimans 2022): {@code D = D_u + w (D_c - D_u)}, with the unconditional and
 * conditional rows evaluated in ONE batched call of the inner denoiser ({@code [x; x]} with
 * {@code uncond.concatBatch(cond)}). Guidance is affine, so guiding x0 equals guiding eps (or velocity) as diffusers
 * does. Scale 1 calls the conditional branch alone.
 *
 * <p>Guidance rescale (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Sec. 3.4,
 * diffusers' {@code rescale_noise_cfg}): {@code g' = phi g std(c)/std(g) + (1 - phi) g}, per sample, standard
 * deviations over all non-batch elements (unbiased, as {@code torch.std}). diffusers applies it to the model output;
 * here it is applied to {@code (x - D)/sigma}, which is exactly the model output for epsilon models
 * ({@code x = x0 + sigma eps}) and flow-velocity models ({@code x = (1-sigma) x0 + sigma eps}, {@code v = (x - x0)/sigma}),
 * so it matches diffusers for those; for v-prediction models it rescales eps rather than v. Shapes: x [B, ...];
 * the inner denoiser sees [2B, ...].
 */
public final class ClassifierFreeGuidance implements Denoiser {

    private final Denoiser inner;
    private final Conditioning unconditional;
    private final double scale;
    private final double rescale;

    /**
     * @param unconditional the negative/empty-prompt conditioning, batch size matching the conditional one
     * @param scale guidance scale {@code w} (1: no guidance)
     * @param rescale {@code phi} in [0, 1] (0: plain CFG)
     */
    public ClassifierFreeGuidance(Denoiser inner, Conditioning unconditional, double scale, double rescale) {
        if (rescale < 0 || rescale > 1) {
            throw new IllegalArgumentException("guidance rescale must be in [0, 1], got " + rescale);
        }
        this.inner = inner;
        this.unconditional = unconditional;
        this.scale = scale;
        this.rescale = rescale;
    }

    @Override
    public NDArray denoise(NDArray x, NoiseLevel level, Conditioning conditioning) {
        if (scale == 1.0) {
            return inner.denoise(x, level, conditioning);
        }
        return denoiseGuided(x, level, conditioning).guided();
    }

    /** Both halves, whatever the scale (CFG++ samplers run at scales around 1 and need {@code D_u} there too). */
    @Override
    public Guided denoiseGuided(NDArray x, NoiseLevel level, Conditioning conditioning) {
        NDArray both = inner.denoise(x.concat(x, 0), level, unconditional.concatBatch(conditioning));
        NDList halves = both.split(2, 0);
        NDArray uncond = halves.get(0);
        NDArray cond = halves.get(1);
        return new Guided(guide(x, uncond, cond, level.sigma()), uncond);
    }

    private NDArray guide(NDArray x, NDArray uncond, NDArray cond, double sigma) {
        NDArray guided = uncond.add(mul(cond.sub(uncond), scale));
        if (rescale == 0.0) {
            return guided;
        }
        NDArray epsGuided = div(x.sub(guided), sigma);
        NDArray epsCond = div(x.sub(cond), sigma);
        NDArray factor = std(epsCond).div(std(epsGuided));
        NDArray rescaled = epsGuided.mul(add(mul(factor, rescale), 1 - rescale));
        return x.sub(mul(rescaled, sigma));
    }

    /**
     * Per-sample unbiased standard deviation over all non-batch elements (as {@code torch.std(dim=1..)}), shape
     * [B, 1, ..., 1]. Computed on the [B, N] flattening: DJL's PyTorch engine reduces over one axis at a time only.
     */
    static NDArray std(NDArray a) {
        Shape shape = a.getShape();
        long batch = shape.get(0);
        long count = shape.size() / batch;
        NDArray flat = a.reshape(batch, count);
        NDArray centered = flat.sub(flat.mean(new int[] {1}, true));
        long[] keep = new long[shape.dimension()];
        Arrays.fill(keep, 1);
        keep[0] = batch;
        return div(centered.mul(centered).sum(new int[] {1}, true), count - 1).sqrt().reshape(keep);
    }
}
