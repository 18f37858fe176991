package dev.jdiffuse.models.transformer;

/**
 * Fixed 2-D sine-cosine position embeddings of ViT/MAE (He et al. 2022) as DiT (Peebles and Xie 2023, sec. 3.1) and
 * SD3 (Esser et al. 2024) use them, following diffusers' {@code get_2d_sincos_pos_embed}: grid coordinates
 * {@code i / (gridSize / baseSize) / interpolationScale} (float32), and for a coordinate p the 1-D embedding of width E
 * is {@code [sin(p w_k), cos(p w_k)]} with {@code w_k = 10000^(-k / (E/2))} (float64). The first half of the D channels
 * encodes the column coordinate, the second half the row coordinate. Computed on the host.
 */
public final class SinCosPositions {

    private SinCosPositions() {
    }

    /**
     * The embeddings of the {@code rows x cols} window starting at ({@code top}, {@code left}) of a
     * {@code gridH x gridW} grid, row-major: float32 [rows * cols * dim].
     */
    public static float[] window(int dim, int gridH, int gridW, int top, int left, int rows, int cols,
            double baseSize, double interpolationScale) {
        if (dim % 4 != 0) {
            throw new IllegalArgumentException("2-D sin-cos embeddings need a width divisible by 4, got " + dim);
        }
        int quarter = dim / 4;
        double[] omega = new double[quarter];
        for (int k = 0; k < quarter; k++) {
            omega[k] = 1.0 / Math.pow(10000.0, k / (dim / 4.0));
        }
        float[] out = new float[rows * cols * dim];
        for (int r = 0; r < rows; r++) {
            float y = coordinate(top + r, gridH, baseSize, interpolationScale);
            for (int c = 0; c < cols; c++) {
                float x = coordinate(left + c, gridW, baseSize, interpolationScale);
                int base = (r * cols + c) * dim;
                fill(out, base, x, omega);
                fill(out, base + dim / 2, y, omega);
            }
        }
        return out;
    }

    private static float coordinate(int i, int gridSize, double baseSize, double interpolationScale) {
        return (float) i / (float) (gridSize / baseSize) / (float) interpolationScale;
    }

    private static void fill(float[] out, int at, float pos, double[] omega) {
        int q = omega.length;
        for (int k = 0; k < q; k++) {
            double a = pos * omega[k];
            out[at + k] = (float) Math.sin(a);
            out[at + q + k] = (float) Math.cos(a);
        }
    }
}
