package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.transformer.DiffusersWeights;
import dev.jdiffuse.models.transformer.SinCosPositions;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * SD3's positions are the centred window of the grid the checkpoint saved ({@code pos_embed.pos_embed}), as diffusers
 * crops its persistent buffer, not the exact sin-cos values: a checkpoint stored in fp16 (pipeline_sd3) or bf16
 * (layouts/sd35, as SD 3.5 is published) holds the table rounded to that dtype, and diffusers runs with the rounded
 * values (recomputing them left pipeline_sd3's image 1.8e-4 and layouts/sd35's 1.25e-3 off diffusers'). Without the
 * buffer the positions are computed from the config. Every diffusers SD3 transformer folder of the fixtures is checked.
 */
class SavedPositionsTest {

    private static final List<String> PIPELINE_TRANSFORMERS = List.of("pipeline_sd3/model/transformer",
            "layouts/sd35/model/transformer");

    @TestFactory
    List<DynamicTest> positionsAreTheSavedGridsWindow() {
        List<Path> folders = new ArrayList<>(Fixtures.cases("sd3_transformer"));
        for (String p : PIPELINE_TRANSFORMERS) {
            if (Files.isDirectory(Fixtures.root().resolve(p))) {
                folders.add(Fixtures.root().resolve(p));
            }
        }
        return Fixtures.eachCase(folders, "sd3_transformer", SavedPositionsTest::check);
    }

    private static void check(Path dir) {
        String name = Fixtures.displayName(dir);
        SD3TransformerConfig c = SD3TransformerConfig.read(dir.resolve("config.json"));
        int m = c.posEmbedMaxSize();
        int dim = c.innerDim();
        int base = c.sampleSize() / c.patchSize();
        float[] saved;
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("diffusion_pytorch_model.safetensors"))) {
            saved = f.toFloatArray(SD3Transformer2DModel.POSITION_BUFFER);
        }
        // the full grid, and a non-square window off the centre line (odd margins round the top/left down)
        int[][] sizes = {{m, m}, {m - 3, m - 6}};
        try (NDManager w = NDManager.newBaseManager(); NDManager w2 = NDManager.newBaseManager();
                SafetensorsStateDict weights = DiffusersWeights.open(dir)) {
            SD3Transformer2DModel model = SD3Transformer2DModel.load(c, weights, w, DataType.FLOAT32);
            StateDict withoutGrid = weights.renamed(k -> k.equals(SD3Transformer2DModel.POSITION_BUFFER) ? null : k);
            SD3Transformer2DModel computed = SD3Transformer2DModel.load(c, withoutGrid, w2, DataType.FLOAT32);
            for (int[] s : sizes) {
                int h = s[0];
                int cols = s[1];
                int top = (m - h) / 2;
                int left = (m - cols) / 2;
                float[] expected = window(saved, m, dim, top, left, h, cols);
                float[] got = model.patchEmbed().positions(h, cols, DataType.FLOAT32).toFloatArray();
                assertArrayEquals(expected, got, name + " " + h + "x" + cols + " window of the saved grid");
                float[] exact = SinCosPositions.window(dim, m, m, top, left, h, cols, base, 1.0);
                assertArrayEquals(exact, computed.patchEmbed().positions(h, cols, DataType.FLOAT32).toFloatArray(),
                        name + " " + h + "x" + cols + " computed without the buffer");
                Close.report(String.format("%s %dx%d positions = saved grid; saved vs exact sin-cos max|diff| %.3e",
                        name, h, cols, Close.maxAbs(diff(expected, exact))));
            }
        }
    }

    /** The rows x cols window at (top, left) of a saved [1, m*m, dim] grid, row-major. */
    private static float[] window(float[] grid, int m, int dim, int top, int left, int rows, int cols) {
        float[] out = new float[rows * cols * dim];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(grid, ((top + r) * m + left) * dim, out, r * cols * dim, cols * dim);
        }
        return out;
    }

    private static double[] diff(float[] a, float[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }
}
