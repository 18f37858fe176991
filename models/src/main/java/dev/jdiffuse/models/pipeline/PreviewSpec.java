package dev.jdiffuse.models.pipeline;

/**
 * Intermediate previews: {@code method} NONE, RGB (a linear latent-to-RGB projection, nearly free), TAESD (the tiny
 * autoencoder, sharper), or LATENT (the raw latent as float16 for the client to render); every {@code every} steps;
 * at most {@code maxSize} pixels on the long side.
 */
public record PreviewSpec(Method method, int every, int maxSize) {

    public static final PreviewSpec NONE = new PreviewSpec(Method.NONE, 1, 0);

    public enum Method { NONE, RGB, TAESD, LATENT }

    public boolean wants(int step, int steps) {
        return method != Method.NONE && (step % Math.max(1, every) == 0 || step == steps - 1);
    }
}
