package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Patchify + fixed positions (Dosovitskiy et al. 2021; Peebles and Xie 2023, sec. 3.1), diffusers' {@code PatchEmbed}:
 * a p x p stride-p convolution {@code proj} turns [B, C, H, W] into [B, (H/p)(W/p), D] tokens (row-major), plus 2-D
 * sin-cos position embeddings. Without a maximum size the grid is (H/p, W/p) scaled by {@code baseSize = sampleSize/p};
 * with {@code posEmbedMaxSize} M (SD3) the M x M grid is centre-cropped to (H/p, W/p).
 *
 * <p>The embeddings are computed from the config unless a model hands over the grid its checkpoint saved
 * ({@link #useSavedGrid}): diffusers keeps SD3's M x M grid as the persistent buffer {@code pos_embed.pos_embed} and
 * crops that, so a checkpoint stored in fp16 or bf16 is run with the rounded table, up to ~2.4e-4 (fp16) or ~2e-3
 * (bf16) away from the exact sin-cos values; recomputing them would add that difference to every image token. Of
 * the saved grid only its column and row codes are kept ({@link SavedPositionGrid}). The window of each grid size is
 * cached per (grid, dtype, device) in a sub-manager of the weights' manager, so forward passes create no constants.
 */
public final class PatchEmbed extends Module {

    private final Conv2d proj;
    private final int patchSize;
    private final int dim;
    private final int baseSize;
    private final int maxSize;
    private final Map<String, NDArray> positions = new ConcurrentHashMap<>();
    private NDManager cache;
    private volatile SavedPositionGrid savedGrid;

    /** @param posEmbedMaxSize 0 for none (DiT), else the side of SD3's position grid */
    public PatchEmbed(int sampleSize, int patchSize, int inChannels, int dim, int posEmbedMaxSize) {
        this.proj = child("proj", new Conv2d(inChannels, dim, patchSize, patchSize, 0, true));
        this.patchSize = patchSize;
        this.dim = dim;
        this.baseSize = sampleSize / patchSize;
        this.maxSize = posEmbedMaxSize;
    }

    public int patchSize() {
        return patchSize;
    }

    /** @param x [B, C, H, W] with H, W multiples of the patch size -> [B, (H/p)(W/p), D] */
    public NDArray forward(NDArray x) {
        Shape s = x.getShape();
        long h = s.get(2) / patchSize;
        long w = s.get(3) / patchSize;
        NDArray tokens = proj.forward(x).reshape(s.get(0), dim, h * w).transpose(0, 2, 1);
        return tokens.add(positions((int) h, (int) w, tokens.getDataType()));
    }

    /**
     * Crops positions from {@code grid}, the M x M table [1, M*M, D] the checkpoint saved (diffusers' persistent
     * {@code pos_embed.pos_embed}, loaded in the weights' dtype), instead of computing them, as diffusers does. Only
     * for a grid of {@code posEmbedMaxSize} M. {@code grid} may be in any manager (e.g. on the host); what is kept of
     * it ({@link SavedPositionGrid}) goes to the weights' device, and {@code grid} is left to its owner.
     */
    public void useSavedGrid(NDArray grid) {
        if (maxSize <= 0) {
            throw new IllegalStateException("only a pos_embed_max_size grid is saved and cropped");
        }
        long[] expected = {1, (long) maxSize * maxSize, dim};
        if (!Arrays.equals(expected, grid.getShape().getShape())) {
            throw new IllegalArgumentException("saved position grid " + grid.getShape() + ", expected "
                    + new Shape(expected));
        }
        savedGrid = SavedPositionGrid.of(grid, maxSize, dim, cacheManager());
        positions.values().forEach(NDArray::close);
        positions.clear();
    }

    /** The saved grid in use, or null when the positions are computed (for tests). */
    SavedPositionGrid savedGrid() {
        return savedGrid;
    }

    /** The position embeddings [1, h*w, D] for an h x w token grid, in {@code dtype} on the weights' device. */
    public NDArray positions(int h, int w, DataType dtype) {
        if (maxSize > 0 && (h > maxSize || w > maxSize)) {
            throw new IllegalArgumentException("latent grid " + h + "x" + w + " patches exceeds pos_embed_max_size "
                    + maxSize);
        }
        SavedPositionGrid grid = savedGrid;
        if (grid != null) {
            // diffusers' cropped_pos_embed: the centred h x w window
            return positions.computeIfAbsent(h + "x" + w + "/" + dtype,
                    k -> grid.window((maxSize - h) / 2, (maxSize - w) / 2, h, w, dtype));
        }
        return positions.computeIfAbsent(h + "x" + w + "/" + dtype, k -> {
            float[] table = maxSize > 0
                    ? SinCosPositions.window(dim, maxSize, maxSize, (maxSize - h) / 2, (maxSize - w) / 2, h, w,
                            baseSize, 1.0)
                    : SinCosPositions.window(dim, h, w, 0, 0, h, w, baseSize, 1.0);
            NDArray a = cacheManager().create(table, new Shape(1, (long) h * w, dim));
            if (dtype == DataType.FLOAT32) {
                return a;
            }
            NDArray cast = a.toType(dtype, false);
            a.close();
            return cast;
        });
    }

    private synchronized NDManager cacheManager() {
        if (cache == null || !cache.isOpen()) {
            cache = proj.namedParameters().get("weight").get().getManager().newSubManager();
        }
        return cache;
    }
}
