package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.models.nn.Scopes;

import java.util.function.UnaryOperator;

/**
 * diffusers' tiled VAE coding ({@code AutoencoderKL.tiled_decode} and {@code _tiled_encode}, switched on by
 * {@code vae.enable_tiling()}): the input is cut into square tiles of side {@code tileIn} that start every
 * {@code stride = int(tileIn * (1 - overlap))} rows and columns (the last ones are cut short by the edge), each tile
 * is coded alone (so memory stays that of one tile whatever the image's size), and the coded tiles are put back
 * together: row by row, left to right, a tile's first {@code blend = int(tileOut * overlap)} rows are cross-faded
 * linearly with the last rows of the tile above ({@code blend_v}), then its first columns with the last columns of the
 * tile to its left ({@code blend_h}), and the top-left {@code tileOut - blend} square of each is kept.
 *
 * <p>The fades are done in place and in diffusers' order, so a tile's left neighbour has already been faded with the
 * tile above it when the tile reads it, as in diffusers. Per row {@code y < blend}:
 * {@code b[y] = a[end - blend + y] * (1 - y / blend) + b[y] * (y / blend)}, each product rounded to the tiles' dtype
 * before the sum, as PyTorch rounds {@code tensor * python_float} (so fp16 and fp32 match diffusers bit for bit when
 * the tiles do). Because every tile has its own GroupNorm statistics, the result is not the untiled one: the fades
 * hide the seams, and tile-sized changes of tone can remain (diffusers' own caveat).
 */
public final class TiledCoding {

    /** The share of a tile that overlaps its neighbour, fixed in diffusers ({@code tile_overlap_factor}). */
    public static final double DIFFUSERS_OVERLAP = 0.25;

    private TiledCoding() {
    }

    /**
     * {@code code} applied tile by tile to {@code x} [B, C, H, W], the coded tiles blended into one array
     * [B, C', H * k, W * k] where a tile of side {@code tileIn} codes to one of side {@code tileOut = tileIn * k}.
     * The result is in {@code x}'s manager; tiles and intermediates are freed.
     *
     * @throws IllegalArgumentException if the overlap is outside [0, 1) or leaves a stride under one element
     */
    public static NDArray apply(NDArray x, int tileIn, int tileOut, double overlap, UnaryOperator<NDArray> code) {
        int stride = (int) (tileIn * (1 - overlap));
        int blend = (int) (tileOut * overlap);
        int keep = tileOut - blend;
        if (!(overlap >= 0 && overlap < 1) || stride < 1 || keep < 1) {
            throw new IllegalArgumentException("tiles of " + tileIn + " -> " + tileOut + " with overlap " + overlap
                    + " leave no stride");
        }
        return Scopes.apply(x, in -> {
            long h = in.getShape().get(2);
            long w = in.getShape().get(3);
            int rows = (int) ((h + stride - 1) / stride);
            int cols = (int) ((w + stride - 1) / stride);
            NDArray[][] tiles = new NDArray[rows][cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    long i = (long) r * stride;
                    long j = (long) c * stride;
                    NDArray tile = in.get(new NDIndex(":, :, {}:{}, {}:{}", i, Math.min(i + tileIn, h), j,
                            Math.min(j + tileIn, w)));
                    NDArray coded = Scopes.apply(tile, code);
                    // faded in place below: a coding that returns its tile (a view of x) would write into x
                    tiles[r][c] = coded == tile ? tile.duplicate() : coded;
                    tile.close();
                }
            }
            NDList bands = new NDList(rows);
            for (int r = 0; r < rows; r++) {
                NDList band = new NDList(cols);
                for (int c = 0; c < cols; c++) {
                    if (r > 0) {
                        fade(tiles[r - 1][c], tiles[r][c], blend, 2);
                    }
                    if (c > 0) {
                        fade(tiles[r][c - 1], tiles[r][c], blend, 3);
                    }
                    Shape s = tiles[r][c].getShape();
                    band.add(tiles[r][c].get(new NDIndex(":, :, :{}, :{}", Math.min(keep, s.get(2)),
                            Math.min(keep, s.get(3)))));
                }
                bands.add(NDArrays.concat(band, 3));
            }
            return NDArrays.concat(bands, 2);
        });
    }

    /**
     * diffusers' {@code blend_v} ({@code axis} 2) or {@code blend_h} ({@code axis} 3), in place on {@code b}: its first
     * {@code e = min(extent, a's size, b's size)} rows (columns) cross-faded with {@code a}'s last {@code e}.
     */
    static void fade(NDArray a, NDArray b, int extent, int axis) {
        long e = Math.min(extent, Math.min(a.getShape().get(axis), b.getShape().get(axis)));
        if (e == 0) {
            return;
        }
        float[] fromA = new float[(int) e];
        float[] fromB = new float[(int) e];
        for (int y = 0; y < e; y++) {
            fromA[y] = (float) (1 - (double) y / e); // Python: (1 - y / blend_extent), a double, rounded to float
            fromB[y] = (float) ((double) y / e);
        }
        Shape weights = axis == 2 ? new Shape(1, 1, e, 1) : new Shape(1, 1, 1, e);
        long start = a.getShape().get(axis) - e;
        NDIndex tail = axis == 2 ? new NDIndex(":, :, {}:, :", start) : new NDIndex(":, :, :, {}:", start);
        NDIndex head = axis == 2 ? new NDIndex(":, :, :{}, :", e) : new NDIndex(":, :, :, :{}", e);
        DataType type = b.getDataType();
        // everything made here is closed on return (a cast to the dtype an array already has returns the array)
        try (NDManager fade = b.getManager().newSubManager()) {
            NDArray wa = HostCopies.onDeviceOf(fade, m -> m.create(fromA, weights));
            NDArray wb = HostCopies.onDeviceOf(fade, m -> m.create(fromB, weights));
            NDArray fromTail = a.get(tail);
            NDArray fromHead = b.get(head);
            fromTail.attach(fade);
            fromHead.attach(fade);
            NDArray ra = fromTail.toType(DataType.FLOAT32, false).mul(wa).toType(type, false);
            NDArray rb = fromHead.toType(DataType.FLOAT32, false).mul(wb).toType(type, false);
            b.set(head, ra.add(rb));
        }
    }
}
