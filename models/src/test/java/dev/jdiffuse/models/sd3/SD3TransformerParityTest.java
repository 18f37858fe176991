package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

import static dev.jdiffuse.models.sd3.Sd3Io.read;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** {@code SD3Transformer2DModel} against diffusers on every {@code sd3_transformer/*} fixture (fp32, CPU). */
class SD3TransformerParityTest {

    private static final String PARENT = "sd3_transformer";

    @TestFactory
    List<DynamicTest> matchesDiffusers() {
        return Fixtures.eachCase(PARENT, SD3TransformerParityTest::check);
    }

    private static void check(Path dir) {
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            SD3Transformer2DModel model = SD3Transformer2DModel.load(dir, weights, DataType.FLOAT32);
            NDArray out = Sd3Io.forward(model, act, io);
            assertArrayEquals(io.info("out").shape(), out.getShape().getShape(), "output shape");
            String name = Fixtures.displayName(dir);
            double err = Close.assertMaxAbsRelative(name, Close.toDouble(io.toFloatArray("out")),
                    Close.toDouble(out.toFloatArray()), 1e-3);
            Close.report(name + " max|diff|/max|ref| = " + String.format("%.3e", err));

            // one row alone, with its timestep given once, is that row of the batch
            double[] t = io.toDoubleArray("timestep");
            NDArray row = model.forward(read(act, io, "hidden_states").get("0:1"),
                    read(act, io, "encoder_hidden_states").get("0:1"), read(act, io, "pooled_projections").get("0:1"),
                    new double[] {t[0]});
            Close.assertMaxAbsRelative(name + " row 0 alone", Close.toDouble(out.get("0:1").toFloatArray()),
                    Close.toDouble(row.toFloatArray()), 1e-5);

            // a non-square latent (cropped positions) keeps its shape
            NDArray x = read(act, io, "hidden_states");
            long[] s = x.getShape().getShape();
            long cols = s[3] - 2L * model.config().patchSize();
            NDArray narrow = model.forward(x.get(":, :, :, 0:" + cols), read(act, io, "encoder_hidden_states"),
                    read(act, io, "pooled_projections"), t);
            assertArrayEquals(new long[] {s[0], model.config().outChannels(), s[2], cols}, narrow.getShape().getShape());
        }
    }
}
