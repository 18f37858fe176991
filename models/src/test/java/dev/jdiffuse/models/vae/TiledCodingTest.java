package dev.jdiffuse.models.vae;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link TiledCoding} against a line-by-line transcription of diffusers' {@code tiled_decode} / {@code _tiled_encode}
 * loops (plain Java arrays, {@code blend_v} and {@code blend_h} one row or column at a time, in place), with a coding
 * function that makes every tile's output depend on where in the tile a value sits, so that a wrong crop, stride,
 * fade direction or fade order changes the result.
 */
class TiledCodingTest {

    /** Nearest-neighbour up-sampling by 2 (a decoder's shape), then a ramp over the tile's own output coordinates. */
    private static final Coding UP = new Coding(2, 1);
    /** Every second element (an encoder's shape), then the ramp. */
    private static final Coding DOWN = new Coding(1, 2);
    /** Same size (tile in = tile out), then the ramp. */
    private static final Coding SAME = new Coding(1, 1);

    @Test
    void decodeShapedTilesMatchDiffusersLoops() {
        check(new Shape(2, 3, 11, 13), 4, 8, 0.25, UP); // stride 3, fade 2, keep 6, short last tiles
        check(new Shape(1, 2, 9, 9), 4, 8, 0.5, UP);    // stride 2, fade 4, keep 4: every tile faded both ways
        check(new Shape(1, 1, 16, 7), 8, 16, 0.25, UP); // a last column one element wide
    }

    @Test
    void encodeShapedTilesMatchDiffusersLoops() {
        check(new Shape(1, 3, 20, 17), 8, 4, 0.25, DOWN); // stride 6, fade 1, keep 3
        check(new Shape(2, 2, 13, 13), 6, 3, 0.34, DOWN);
    }

    @Test
    void sameSizeTilesMatchDiffusersLoops() {
        check(new Shape(1, 2, 10, 10), 4, 4, 0.25, SAME); // stride 3, fade 1
        check(new Shape(1, 1, 12, 12), 5, 5, 0.4, SAME);  // stride 3, fade 2
    }

    @Test
    void leavesOnlyItsOutputInTheCallersManager() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(random(new Shape(1, 2, 11, 11), 3), new Shape(1, 2, 11, 11));
            int before = ((BaseNDManager) m).getManagedArrays().size();
            TiledCoding.apply(x, 4, 8, 0.25, UP::apply);
            assertEquals(before + 1, ((BaseNDManager) m).getManagedArrays().size());
        }
    }

    @Test
    void refusesAnOverlapThatLeavesNoStride() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.zeros(new Shape(1, 1, 8, 8));
            assertThrows(IllegalArgumentException.class, () -> TiledCoding.apply(x, 4, 8, 1.0, UP::apply));
            assertThrows(IllegalArgumentException.class, () -> TiledCoding.apply(x, 1, 2, 0.25, UP::apply));
            assertThrows(IllegalArgumentException.class, () -> TiledCoding.apply(x, 4, 8, -0.1, UP::apply));
        }
    }

    private static void check(Shape shape, int tileIn, int tileOut, double overlap, Coding coding) {
        float[] data = random(shape, shape.size() * 31 + tileIn);
        float[][][][] expected = diffusers(toNested(data, shape), tileIn, tileOut, overlap, coding);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray actual = TiledCoding.apply(m.create(data, shape), tileIn, tileOut, overlap, coding::apply);
            Shape s = actual.getShape();
            assertEquals(new Shape(expected.length, expected[0].length, expected[0][0].length,
                    expected[0][0][0].length), s, "shape");
            assertArrayEquals(flatten(expected), actual.toFloatArray(), 0f,
                    shape + " tiles " + tileIn + " -> " + tileOut + " overlap " + overlap);
        }
    }

    // ---- diffusers' loops, transcribed (autoencoder_kl.py: tiled_decode, blend_v, blend_h) ----

    private static float[][][][] diffusers(float[][][][] x, int tileIn, int tileOut, double overlap, Coding code) {
        int overlapSize = (int) (tileIn * (1 - overlap));
        int blendExtent = (int) (tileOut * overlap);
        int rowLimit = tileOut - blendExtent;
        int h = x[0][0].length;
        int w = x[0][0][0].length;
        java.util.List<java.util.List<float[][][][]>> rows = new java.util.ArrayList<>();
        for (int i = 0; i < h; i += overlapSize) {
            java.util.List<float[][][][]> row = new java.util.ArrayList<>();
            for (int j = 0; j < w; j += overlapSize) {
                row.add(code.apply(slice(x, i, Math.min(i + tileIn, h), j, Math.min(j + tileIn, w))));
            }
            rows.add(row);
        }
        java.util.List<float[][][][]> resultRows = new java.util.ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            java.util.List<float[][][][]> row = rows.get(i);
            java.util.List<float[][][][]> resultRow = new java.util.ArrayList<>();
            for (int j = 0; j < row.size(); j++) {
                float[][][][] tile = row.get(j);
                if (i > 0) {
                    blendV(rows.get(i - 1).get(j), tile, blendExtent);
                }
                if (j > 0) {
                    blendH(row.get(j - 1), tile, blendExtent);
                }
                resultRow.add(slice(tile, 0, Math.min(rowLimit, tile[0][0].length), 0,
                        Math.min(rowLimit, tile[0][0][0].length)));
            }
            resultRows.add(concat(resultRow, 3));
        }
        return concat(resultRows, 2);
    }

    private static void blendV(float[][][][] a, float[][][][] b, int extent) {
        int e = Math.min(Math.min(a[0][0].length, b[0][0].length), extent);
        for (int y = 0; y < e; y++) {
            float wa = (float) (1 - (double) y / e);
            float wb = (float) ((double) y / e);
            for (int n = 0; n < b.length; n++) {
                for (int c = 0; c < b[0].length; c++) {
                    for (int x = 0; x < b[0][0][0].length; x++) {
                        b[n][c][y][x] = a[n][c][a[0][0].length - e + y][x] * wa + b[n][c][y][x] * wb;
                    }
                }
            }
        }
    }

    private static void blendH(float[][][][] a, float[][][][] b, int extent) {
        int e = Math.min(Math.min(a[0][0][0].length, b[0][0][0].length), extent);
        for (int x = 0; x < e; x++) {
            float wa = (float) (1 - (double) x / e);
            float wb = (float) ((double) x / e);
            for (int n = 0; n < b.length; n++) {
                for (int c = 0; c < b[0].length; c++) {
                    for (int y = 0; y < b[0][0].length; y++) {
                        b[n][c][y][x] = a[n][c][y][a[0][0][0].length - e + x] * wa + b[n][c][y][x] * wb;
                    }
                }
            }
        }
    }

    // ---- the coding function, twice: as arrays (the transcription's) and as DJL ops (TiledCoding's) ----

    /** Resample by {@code up} / {@code down} (nearest), then add {@code 0.01 y + 0.001 x} of the output position. */
    private record Coding(int up, int down) {

        float[][][][] apply(float[][][][] t) {
            int h = t[0][0].length;
            int w = t[0][0][0].length;
            int oh = (h * up + down - 1) / down;
            int ow = (w * up + down - 1) / down;
            float[][][][] out = new float[t.length][t[0].length][oh][ow];
            for (int n = 0; n < t.length; n++) {
                for (int c = 0; c < t[0].length; c++) {
                    for (int y = 0; y < oh; y++) {
                        for (int x = 0; x < ow; x++) {
                            out[n][c][y][x] = t[n][c][y * down / up][x * down / up] + (0.01f * y + 0.001f * x);
                        }
                    }
                }
            }
            return out;
        }

        NDArray apply(NDArray t) {
            Shape s = t.getShape();
            NDArray r = t;
            if (up > 1) {
                r = r.reshape(s.get(0), s.get(1), s.get(2), 1, s.get(3), 1)
                        .broadcast(new Shape(s.get(0), s.get(1), s.get(2), up, s.get(3), up))
                        .reshape(s.get(0), s.get(1), s.get(2) * up, s.get(3) * up);
            }
            if (down > 1) {
                r = r.get(new NDIndex(":, :, ::{}, ::{}", down, down));
            }
            Shape o = r.getShape();
            float[] ramp = new float[(int) (o.get(2) * o.get(3))];
            for (int y = 0; y < o.get(2); y++) {
                for (int x = 0; x < o.get(3); x++) {
                    ramp[(int) (y * o.get(3) + x)] = 0.01f * y + 0.001f * x;
                }
            }
            return r.add(t.getManager().create(ramp, new Shape(1, 1, o.get(2), o.get(3))));
        }
    }

    // ---- array helpers ----

    private static float[] random(Shape shape, long seed) {
        Random random = new Random(seed);
        float[] v = new float[(int) shape.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    private static float[][][][] toNested(float[] flat, Shape s) {
        int n = (int) s.get(0);
        int c = (int) s.get(1);
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        float[][][][] out = new float[n][c][h][w];
        int k = 0;
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < c; b++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        out[a][b][y][x] = flat[k++];
                    }
                }
            }
        }
        return out;
    }

    private static float[] flatten(float[][][][] t) {
        int h = t[0][0].length;
        int w = t[0][0][0].length;
        float[] out = new float[t.length * t[0].length * h * w];
        int k = 0;
        for (float[][][] a : t) {
            for (float[][] b : a) {
                for (float[] row : b) {
                    System.arraycopy(row, 0, out, k, w);
                    k += w;
                }
            }
        }
        assertEquals(out.length, k);
        return out;
    }

    private static float[][][][] slice(float[][][][] t, int y0, int y1, int x0, int x1) {
        float[][][][] out = new float[t.length][t[0].length][y1 - y0][x1 - x0];
        for (int n = 0; n < t.length; n++) {
            for (int c = 0; c < t[0].length; c++) {
                for (int y = y0; y < y1; y++) {
                    System.arraycopy(t[n][c][y], x0, out[n][c][y - y0], 0, x1 - x0);
                }
            }
        }
        return out;
    }

    private static float[][][][] concat(java.util.List<float[][][][]> parts, int axis) {
        float[][][][] first = parts.get(0);
        int h = axis == 2 ? parts.stream().mapToInt(p -> p[0][0].length).sum() : first[0][0].length;
        int w = axis == 3 ? parts.stream().mapToInt(p -> p[0][0][0].length).sum() : first[0][0][0].length;
        float[][][][] out = new float[first.length][first[0].length][h][w];
        int offset = 0;
        for (float[][][][] p : parts) {
            for (int n = 0; n < p.length; n++) {
                for (int c = 0; c < p[0].length; c++) {
                    for (int y = 0; y < p[0][0].length; y++) {
                        for (int x = 0; x < p[0][0][0].length; x++) {
                            if (axis == 2) {
                                out[n][c][offset + y][x] = p[n][c][y][x];
                            } else {
                                out[n][c][y][offset + x] = p[n][c][y][x];
                            }
                        }
                    }
                }
            }
            offset += axis == 2 ? p[0][0].length : p[0][0][0].length;
        }
        return out;
    }
}
