package dev.jdiffuse.models.pipeline;

/**
 * The latent geometry of a model: images of {@code H x W} pixels are latents {@code [B, channels, H/f, W/f]} with
 * {@code f = pixelsPerLatent}; sides must be multiples of {@code multiple} ({@code f} times a transformer's patch size)
 * and at most {@code maxSide} pixels (a position grid's limit; 0 when there is none).
 */
public record LatentSpace(int channels, int pixelsPerLatent, int multiple, int maxSide) {

    /** A default side: {@code preferred} pixels, or the network's {@code sample_size} in pixels if smaller. */
    public int side(int preferred, int sampleSize) {
        int sample = sampleSize * pixelsPerLatent;
        return sample > 0 && sample < preferred ? sample : preferred;
    }
}
