package dev.jdiffuse.samplers.methods;

/**
 * The split of an ancestral step from {@code s} to {@code s'} into a deterministic move to {@code down} and fresh noise
 * of scale {@code up}, {@code down^2 + up^2 = s'^2} (k-diffusion's {@code get_ancestral_step} with {@code eta = 1}: the
 * DDPM posterior in the variance-exploding state):
 * <pre>
 *   up = sqrt(s'^2 (s^2 - s'^2) / s^2),   down = sqrt(s'^2 - up^2)
 * </pre>
 */
record Ancestral(double down, double up) {

    static Ancestral levels(double sigma, double next) {
        double up = Math.sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma));
        return new Ancestral(Math.sqrt(next * next - up * up), up);
    }
}
