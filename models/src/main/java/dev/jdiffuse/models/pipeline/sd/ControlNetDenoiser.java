package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.unet.ControlNetModel;
import dev.jdiffuse.models.unet.ControlNetOutput;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseLevel;

import java.util.function.BiFunction;

/**
 * ControlNet (Zhang et al. 2023) as a {@link Denoiser} decorator: at steps inside [start, end] of the run it computes
 * the residuals of the control image for the network's input and adds them to the conditioning, which the UNet adds
 * to its skip connections. Activity follows diffusers' {@code controlnet_keep}: step {@code i} of {@code n} is active
 * when {@code i/n >= start} and {@code (i+1)/n <= end}. The control image [1, 3, 8h, 8w] in [0, 1] is repeated to the
 * batch (both halves of classifier-free guidance, as diffusers does without guess mode).
 */
final class ControlNetDenoiser implements Denoiser {

    private final Denoiser inner;
    private final ControlNetModel controlnet;
    private final NDArray image;
    private final float scale;
    private final double start;
    private final double end;
    private final BiFunction<NDArray, Double, NDArray> inputScaling;
    private NDArray batched;

    /**
     * @param inputScaling the prediction adapter's input scaling {@code (x, sigma) -> network input}, so the
     *     ControlNet sees exactly what the UNet sees
     */
    ControlNetDenoiser(Denoiser inner, ControlNetModel controlnet, NDArray image, double scale, double start,
            double end, BiFunction<NDArray, Double, NDArray> inputScaling) {
        this.inner = inner;
        this.controlnet = controlnet;
        this.image = image;
        this.scale = (float) scale;
        this.start = start;
        this.end = end;
        this.inputScaling = inputScaling;
    }

    static boolean active(int step, int steps, double start, double end) {
        return !((double) step / steps < start || (double) (step + 1) / steps > end);
    }

    @Override
    public NDArray denoise(NDArray x, NoiseLevel level, Conditioning conditioning) {
        if (!active(level.step(), level.steps(), start, end)) {
            return inner.denoise(x, level, conditioning);
        }
        SdConditioning c = (SdConditioning) conditioning;
        long batch = x.getShape().get(0);
        if (batched == null || batched.getShape().get(0) != batch) {
            // once per request: the repeat lands in the image's (the request's) manager, not the step's
            batched = batch == 1 ? image : image.repeat(0, batch);
        }
        NDArray cond = batched;
        NDArray input = inputScaling.apply(x, level.sigma());
        ControlNetOutput out = controlnet.forward(input, new double[] {level.timestep()}, c.context(), cond, scale,
                c.extras());
        return inner.denoise(x, level, c.plusControl(out.down(), out.mid()));
    }
}
