package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PositionsTest {

    /** diffusers saves SD3's full sin-cos grid as {@code pos_embed.pos_embed}; ours, computed from config, must match. */
    @TestFactory
    List<DynamicTest> fullGridMatchesSavedBuffer() {
        return Fixtures.eachCase("sd3_transformer", " pos_embed", dir -> {
            JsonNode c = Fixtures.json(dir.resolve("config.json"));
            int dim = c.get("num_attention_heads").asInt() * c.get("attention_head_dim").asInt();
            int max = c.get("pos_embed_max_size").asInt();
            int base = c.get("sample_size").asInt() / c.get("patch_size").asInt();
            try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("diffusion_pytorch_model.safetensors"))) {
                float[] saved = f.toFloatArray("pos_embed.pos_embed");
                float[] ours = SinCosPositions.window(dim, max, max, 0, 0, max, max, base, 1.0);
                double err = Close.assertMaxAbs("pos_embed", Close.toDouble(saved), Close.toDouble(ours), 1e-6);
                Close.report(Fixtures.displayName(dir) + " pos_embed max|diff| = " + String.format("%.3e", err));
            }
        });
    }

    @Test
    void windowIsTheCentreOfTheFullGrid() {
        int dim = 16;
        int max = 10;
        float[] full = SinCosPositions.window(dim, max, max, 0, 0, max, max, 4, 1.0);
        float[] crop = SinCosPositions.window(dim, max, max, 2, 3, 6, 4, 4, 1.0);
        for (int r = 0; r < 6; r++) {
            for (int c = 0; c < 4; c++) {
                for (int k = 0; k < dim; k++) {
                    assertEquals(full[((r + 2) * max + (c + 3)) * dim + k], crop[(r * 4 + c) * dim + k]);
                }
            }
        }
    }

    @Test
    void firstHalfEncodesTheColumnSecondHalfTheRow() {
        float[] e = SinCosPositions.window(8, 3, 3, 0, 0, 3, 3, 3, 1.0);
        // position (row 0, col 1): first half sin(1 * w_0) = sin(1), second half sin(0) = 0
        assertEquals(Math.sin(1.0), e[8], 1e-7);
        assertEquals(0.0, e[8 + 4], 1e-7);
        // position (row 2, col 0): first half sin(0) = 0, second half sin(2)
        assertEquals(0.0, e[6 * 8], 1e-7);
        assertEquals(Math.sin(2.0), e[6 * 8 + 4], 1e-7);
    }

    @Test
    void positionsAreCachedPerSizeAndCropChecked() {
        try (NDManager w = NDManager.newBaseManager()) {
            PatchEmbed pe = new PatchEmbed(8, 2, 4, 16, 6);
            Map<String, long[]> shapes = Map.of("proj.weight", new long[] {16, 4, 2, 2}, "proj.bias", new long[] {16});
            WeightLoader.load(pe, zeros(shapes), w, DataType.FLOAT32, "pe");
            NDArray a = pe.positions(4, 3, DataType.FLOAT32);
            assertSame(a, pe.positions(4, 3, DataType.FLOAT32));
            assertArrayEquals(new long[] {1, 12, 16}, a.getShape().getShape());
            assertThrows(IllegalArgumentException.class, () -> pe.positions(7, 2, DataType.FLOAT32));
            try (NDManager act = NDManager.newBaseManager()) {
                NDArray y = pe.forward(act.zeros(new Shape(2, 4, 8, 6)));
                assertArrayEquals(new long[] {2, 12, 16}, y.getShape().getShape());
                assertSame(act, y.getManager());
                assertArrayEquals(a.toFloatArray(), y.get(1).toFloatArray());
            }
        }
    }

    /** A saved grid replaces the computed positions: windows are cropped from it (centred) and cast to the dtype. */
    @Test
    void savedGridIsCroppedInsteadOfComputed() {
        try (NDManager w = NDManager.newBaseManager()) {
            int max = 6;
            int dim = 16;
            PatchEmbed pe = new PatchEmbed(8, 2, 4, dim, max);
            Map<String, long[]> shapes = Map.of("proj.weight", new long[] {16, 4, 2, 2}, "proj.bias", new long[] {16});
            WeightLoader.load(pe, zeros(shapes), w, DataType.FLOAT32, "pe");
            NDArray computed = pe.positions(4, 3, DataType.FLOAT32);
            float[] grid = new float[max * max * dim];
            for (int i = 0; i < grid.length; i++) {
                grid[i] = (float) Math.sin(0.37 * i) + i;
            }
            pe.useSavedGrid(w.create(grid, new Shape(1, (long) max * max, dim)));
            assertFalse(pe.savedGrid().factored(), "a grid not of the sin-cos form is kept whole");
            NDArray a = pe.positions(4, 3, DataType.FLOAT32);
            assertNotSame(computed, a, "the computed window was still cached");
            float[] got = a.toFloatArray();
            // 4 x 3 of 6 x 6: top (6 - 4) / 2 = 1, left (6 - 3) / 2 = 1
            for (int r = 0; r < 4; r++) {
                for (int c = 0; c < 3; c++) {
                    for (int k = 0; k < dim; k++) {
                        assertEquals(grid[((r + 1) * max + (c + 1)) * dim + k], got[(r * 3 + c) * dim + k]);
                    }
                }
            }
            assertSame(a, pe.positions(4, 3, DataType.FLOAT32));
            NDArray half = pe.positions(4, 3, DataType.FLOAT16);
            assertEquals(DataType.FLOAT16, half.getDataType());
            assertArrayEquals(a.toType(DataType.FLOAT16, false).toFloatArray(), half.toFloatArray());
            assertThrows(IllegalArgumentException.class,
                    () -> pe.useSavedGrid(w.zeros(new Shape(1, (long) max * max - 1, dim))));
            PatchEmbed uncropped = new PatchEmbed(8, 2, 4, dim, 0);
            assertThrows(IllegalStateException.class,
                    () -> uncropped.useSavedGrid(w.zeros(new Shape(1, (long) max * max, dim))));
        }
    }

    /**
     * A sin-cos table rounded to bf16 (as SD 3.5 is published) keeps the column/row form, so only its two codes are
     * kept, and its windows are still exactly the saved values.
     */
    @Test
    void roundedSinCosGridIsKeptAsItsCodes() {
        try (NDManager w = NDManager.newBaseManager()) {
            int max = 7;
            int dim = 16;
            PatchEmbed pe = new PatchEmbed(8, 2, 4, dim, max);
            Map<String, long[]> shapes = Map.of("proj.weight", new long[] {16, 4, 2, 2}, "proj.bias", new long[] {16});
            WeightLoader.load(pe, zeros(shapes), w, DataType.FLOAT32, "pe");
            float[] saved = SinCosPositions.window(dim, max, max, 0, 0, max, max, 4, 1.0);
            for (int i = 0; i < saved.length; i++) {
                saved[i] = bfloat16(saved[i]);
            }
            pe.useSavedGrid(w.create(saved, new Shape(1, (long) max * max, dim)));
            assertTrue(pe.savedGrid().factored());
            for (int[] s : new int[][] {{7, 7}, {4, 3}, {2, 6}, {1, 1}}) {
                int top = (max - s[0]) / 2;
                int left = (max - s[1]) / 2;
                float[] got = pe.positions(s[0], s[1], DataType.FLOAT32).toFloatArray();
                for (int r = 0; r < s[0]; r++) {
                    for (int c = 0; c < s[1]; c++) {
                        for (int k = 0; k < dim; k++) {
                            assertEquals(saved[((r + top) * max + (c + left)) * dim + k],
                                    got[(r * s[1] + c) * dim + k]);
                        }
                    }
                }
            }
        }
    }

    /** {@code x} rounded to the nearest bfloat16 (ties to even), as {@code tensor.to(torch.bfloat16)} rounds. */
    private static float bfloat16(float x) {
        int bits = Float.floatToRawIntBits(x);
        bits += 0x7fff + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(bits & 0xffff0000);
    }

    static StateDict zeros(Map<String, long[]> shapes) {
        return StateDict.of(shapes.keySet(), shapes::get,
                (key, manager, dtype) -> manager.zeros(new Shape(shapes.get(key)), dtype));
    }
}
