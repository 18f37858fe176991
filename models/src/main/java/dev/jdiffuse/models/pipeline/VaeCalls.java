package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.LatentDistribution;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.UnaryOperator;

/**
 * A job's VAE calls under its {@link VaeTiling}. With {@link VaeTiling.Mode#AUTO} a call that runs out of device
 * memory is tried again smaller, each try in a scope of its own so that the failed one's activations are freed first:
 * a decoding of several images one image at a time (the same pixels: images are decoded independently), then each
 * image in tiles (other pixels, faded seams). Only out-of-memory errors are retried; the last try's error is the job's.
 */
final class VaeCalls {

    private static final Logger LOG = LoggerFactory.getLogger(VaeCalls.class);

    private final AutoencoderKL vae;

    VaeCalls(AutoencoderKL vae) {
        this.vae = vae;
    }

    /** Diffusion-model latents [B, C, h, w] to images [B, 3, H, W] in [0, 1] ({@link AutoencoderKL#latentsToImage}). */
    NDArray toImage(NDArray latents, VaeTiling tiling) {
        return switch (tiling.mode()) {
            case NEVER -> vae.latentsToImage(latents);
            case ALWAYS -> vae.latentsToImageTiled(latents, tileSize(tiling), VaeTiling.OVERLAP);
            case AUTO -> {
                int fallback = fallbackTile(tileSize(tiling), longSide(latents) * vae.config().downscale());
                yield smallerOnOutOfMemory(latents, vae::latentsToImage,
                        z -> vae.latentsToImageTiled(z, fallback, VaeTiling.OVERLAP), "decoding");
            }
        };
    }

    /** The posterior of pixels [B, 3, H, W] in [-1, 1] ({@link AutoencoderKL#encode}); AUTO goes straight to tiles. */
    LatentDistribution encode(NDArray pixels, VaeTiling tiling) {
        return switch (tiling.mode()) {
            case NEVER -> vae.encode(pixels);
            case ALWAYS -> vae.encodeTiled(pixels, tileSize(tiling), VaeTiling.OVERLAP);
            case AUTO -> {
                try {
                    NDList whole = Scopes.run(new NDList(pixels), in -> asList(vae.encode(in.get(0))));
                    yield new LatentDistribution(whole.get(0), whole.get(1));
                } catch (EngineException e) {
                    if (!outOfMemory(e)) {
                        throw e;
                    }
                    int fallback = fallbackTile(tileSize(tiling), longSide(pixels));
                    LOG.warn("VAE encoding of {} ran out of device memory; encoding in tiles of {} pixels",
                            pixels.getShape(), fallback);
                    yield vae.encodeTiled(pixels, fallback, VaeTiling.OVERLAP);
                }
            }
        };
    }

    private int tileSize(VaeTiling tiling) {
        return tiling.tileSize() > 0 ? tiling.tileSize() : vae.defaultTileSize();
    }

    /** The longer of the last two sides of {@code x} [B, C, H, W]. */
    private static int longSide(NDArray x) {
        return (int) Math.max(x.getShape().get(2), x.getShape().get(3));
    }

    /**
     * The tile of a retry in tiles of an image {@code side} pixels on its longer side: {@code tile} (the request's
     * tile size, else the VAE's), made smaller than the image where it is not (half the side, down to a multiple of
     * 32, at least 64), since an image that fits in one tile is coded whole, which is what ran out of memory.
     */
    static int fallbackTile(int tile, int side) {
        if (tile < side) {
            return tile;
        }
        int half = side / 2 / VaeTiling.TILE_MULTIPLE * VaeTiling.TILE_MULTIPLE;
        return Math.max(VaeTiling.MIN_TILE, half);
    }

    private static NDList asList(LatentDistribution d) {
        return new NDList(d.mean(), d.logvar());
    }

    /**
     * {@code whole(x)}; where that runs out of device memory, {@code whole} on each row of a batch alone (rows
     * concatenated back), and where that does too (or there is one row), {@code tiled} on each row alone.
     */
    static NDArray smallerOnOutOfMemory(NDArray x, UnaryOperator<NDArray> whole, UnaryOperator<NDArray> tiled,
            String what) {
        try {
            return Scopes.apply(x, whole);
        } catch (EngineException e) {
            if (!outOfMemory(e)) {
                throw e;
            }
            LOG.warn("VAE {} of {} ran out of device memory; trying {}", what, x.getShape(),
                    x.getShape().get(0) > 1 ? "one image at a time" : "in tiles");
        }
        long rows = x.getShape().get(0);
        if (rows > 1) {
            try {
                return Scopes.apply(x, in -> rowByRow(in, whole));
            } catch (EngineException e) {
                if (!outOfMemory(e)) {
                    throw e;
                }
                LOG.warn("VAE {} of one image of {} ran out of device memory; trying in tiles", what, x.getShape());
            }
        }
        return Scopes.apply(x, in -> rowByRow(in, tiled));
    }

    private static NDArray rowByRow(NDArray x, UnaryOperator<NDArray> f) {
        long rows = x.getShape().get(0);
        if (rows == 1) {
            return f.apply(x);
        }
        NDList out = new NDList((int) rows);
        for (long i = 0; i < rows; i++) {
            out.add(Scopes.apply(x.get(new NDIndex("{}:{}", i, i + 1)), f));
        }
        return NDArrays.concat(out, 0);
    }

    private static boolean outOfMemory(EngineException e) {
        return EngineFailures.kindOf(e.getMessage()) == GenerationException.Kind.OUT_OF_MEMORY;
    }
}
