package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Scopes;

/**
 * The M x M position grid a checkpoint saved (SD3's {@code pos_embed.pos_embed}, [1, M*M, D], row-major), and its
 * windows as diffusers' {@code cropped_pos_embed} cuts them. A 2-D sin-cos grid point (r, c) is
 * {@code [colCode(c), rowCode(r)]}: the first D/2 channels depend on the column only, the second D/2 on the row only
 * ({@link SinCosPositions}), and rounding the table to fp16/bf16 is elementwise, so a saved table keeps that form. It
 * is then kept as its two [M, D/2] codes instead of M*M*D values (SD 3.5 medium, M = 384, D = 1536: 226M values,
 * 453 MB in fp16, 906 MB in fp32), and every window is still exactly the saved values. A grid not of that form is
 * kept whole.
 */
final class SavedPositionGrid {

    private final int side;
    private final int dim;
    private final NDArray colCode;
    private final NDArray rowCode;
    private final NDArray full;

    private SavedPositionGrid(int side, int dim, NDArray colCode, NDArray rowCode, NDArray full) {
        this.side = side;
        this.dim = dim;
        this.colCode = colCode;
        this.rowCode = rowCode;
        this.full = full;
    }

    /**
     * @param grid the saved [1, side*side, dim] table, in any manager (left open; nothing of it is kept)
     * @param home where the kept arrays live (the weights' manager or one of its sub-managers, on their device)
     */
    static SavedPositionGrid of(NDArray grid, int side, int dim, NDManager home) {
        int half = dim / 2;
        NDList kept = Scopes.run(new NDList(grid), in -> {
            NDArray g = grid.reshape(side, side, dim);
            NDArray cols = g.get(new NDIndex("0, :, 0:{}", half));
            NDArray rows = g.get(new NDIndex(":, 0, {}:", half));
            boolean factored = g.get(new NDIndex(":, :, 0:{}", half)).eq(cols.expandDims(0)).all().getBoolean()
                    && g.get(new NDIndex(":, :, {}:", half)).eq(rows.expandDims(1)).all().getBoolean();
            return factored ? new NDList(cols.duplicate(), rows.duplicate()) : new NDList(g.duplicate());
        });
        NDList moved = new NDList();
        for (NDArray a : kept) {
            NDArray m = a.toDevice(home.getDevice(), true);
            m.attach(home);
            moved.add(m);
            a.close();
        }
        return moved.size() == 2 ? new SavedPositionGrid(side, dim, moved.get(0), moved.get(1), null)
                : new SavedPositionGrid(side, dim, null, null, moved.get(0));
    }

    /** Whether the grid is kept as its two codes (else whole). */
    boolean factored() {
        return full == null;
    }

    /**
     * The {@code rows x cols} window at ({@code top}, {@code left}), [1, rows*cols, D] in {@code dtype}, a new array
     * in the kept arrays' manager.
     */
    NDArray window(int top, int left, int rows, int cols, DataType dtype) {
        if (full != null) {
            return Scopes.run(new NDList(full), () -> full
                    .get(new NDIndex("{}:{}, {}:{}", top, top + rows, left, left + cols))
                    .reshape(1, (long) rows * cols, dim).toType(dtype, true));
        }
        int half = dim / 2;
        Shape each = new Shape(rows, cols, half);
        return Scopes.run(new NDList(colCode, rowCode), () -> {
            NDArray c = colCode.get(new NDIndex("{}:{}", left, left + cols)).expandDims(0).broadcast(each);
            NDArray r = rowCode.get(new NDIndex("{}:{}", top, top + rows)).expandDims(1).broadcast(each);
            return c.concat(r, 2).reshape(1, (long) rows * cols, dim).toType(dtype, true);
        });
    }

    int side() {
        return side;
    }
}
