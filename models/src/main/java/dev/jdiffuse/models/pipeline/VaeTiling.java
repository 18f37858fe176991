package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.vae.TiledCoding;

/**
 * Whether a job's VAE calls (the final decoding, the hires fix's mid-run decoding, image-to-image and inpainting
 * encodings) cut the image into tiles ({@link TiledCoding}, diffusers' {@code vae.enable_tiling()}), so that their
 * memory is that of one tile whatever the image's size.
 *
 * @param mode {@link Mode#AUTO}: untiled, and where the device runs out of memory the images of the call one at a
 *     time, then in tiles (the fallback ComfyUI's VAE nodes have); {@link Mode#ALWAYS}: tiled wherever the image is
 *     larger than one tile, as diffusers with tiling enabled; {@link Mode#NEVER}: untiled, running out of memory
 *     fails the job
 * @param tileSize the side of a tile in pixels (a multiple of 32, at least 64), or 0 for the VAE's
 *     {@code sample_size} (diffusers' {@code tile_sample_min_size}: 512 for SD 1.x, 1024 for SDXL)
 */
public record VaeTiling(Mode mode, int tileSize) {

    /** What a request without a tiling choice gets. */
    public static final VaeTiling AUTO = new VaeTiling(Mode.AUTO, 0);

    /** The share of a tile that overlaps its neighbours: diffusers' fixed {@code tile_overlap_factor}. */
    public static final double OVERLAP = TiledCoding.DIFFUSERS_OVERLAP;

    /** Smallest tile side in pixels. */
    public static final int MIN_TILE = 64;

    /**
     * Tile sides are multiples of this many pixels: 4 latents of an 8x VAE, so that diffusers' stride (3/4 of a
     * tile) is a whole number of latents and the kept parts of neighbouring tiles meet exactly.
     */
    public static final int TILE_MULTIPLE = 32;

    public enum Mode {
        AUTO, ALWAYS, NEVER
    }

    public VaeTiling {
        if (mode == null) {
            throw new IllegalArgumentException("mode");
        }
        if (tileSize != 0 && (tileSize < MIN_TILE || tileSize % TILE_MULTIPLE != 0)) {
            throw new IllegalArgumentException("tileSize must be 0 or a multiple of " + TILE_MULTIPLE + " of at least "
                    + MIN_TILE + ": " + tileSize);
        }
    }
}
