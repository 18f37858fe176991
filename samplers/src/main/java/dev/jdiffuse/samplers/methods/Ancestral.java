package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * The split of an ancestral step from {@code s} to {@code s'} into a deterministic move to {@code down} and fresh
 * noise of scale {@code up}, after which the state is rescaled by {@code rescale} so that it has the marginal of level
 * {@code s'} again ({@code eta = 1}):
 * <pre>
 *   variance exploding (k-diffusion's get_ancestral_step, the DDPM posterior):
 *     up = sqrt(s'^2 (s^2 - s'^2) / s^2),   down = sqrt(s'^2 - up^2),   rescale = 1
 *   rectified flow (ComfyUI's sample_euler_ancestral_RF):
 *     down = s'^2 / s,   rescale = alpha(s') / alpha(down),   up = sqrt(s'^2 - (rescale down)^2)
 *   x' = rescale x_down + up z
 * </pre>
 * Both put {@code down} at {@code s'^2/s}; with {@code alpha = 1 - s} the rescaled move carries {@code alpha(s') x0} and
 * noise {@code rescale down}, and {@code up} tops the noise up to {@code s'}.
 */
record Ancestral(double down, double up, double rescale) {

    /** The variance-exploding split. */
    static Ancestral levels(double sigma, double next) {
        double up = Math.sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma));
        return new Ancestral(Math.sqrt(next * next - up * up), up, 1);
    }

    static Ancestral levels(double sigma, double next, Interpolant path) {
        if (path == Interpolant.VARIANCE_EXPLODING) {
            return levels(sigma, next);
        }
        double down = next * next / sigma;
        double rescale = path.alpha(next) / path.alpha(down);
        double kept = rescale * down;
        return new Ancestral(down, Math.sqrt(Math.max(0, next * next - kept * kept)), rescale);
    }

    /** {@code rescale xDown + up z}. */
    NDArray renoise(NDArray xDown, NDArray z) {
        NDArray moved = rescale == 1 ? xDown : mul(xDown, rescale);
        return moved.add(mul(z, up));
    }
}
