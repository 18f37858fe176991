package dev.jdiffuse.models.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@code DiTTransformer2DModel} against diffusers on the {@code dit} fixture (fp32, CPU). */
class DiTParityTest {

    private static final String CASE = "dit";

    @TestFactory
    List<DynamicTest> matchesDiffusers() {
        return Fixtures.withCase(CASE,
                dir -> List.of(DynamicTest.dynamicTest(Fixtures.displayName(dir), () -> check(dir))));
    }

    private static void check(Path dir) {
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            DiTTransformer2DModel model = DiTTransformer2DModel.load(dir, weights, DataType.FLOAT32);
            NDArray x = act.create(io.toFloatArray("hidden_states"), new Shape(io.info("hidden_states").shape()));
            NDArray out = model.forward(x, io.toDoubleArray("timestep"), io.toLongArray("class_labels"));
            assertArrayEquals(io.info("out").shape(), out.getShape().getShape(), "output shape");
            double err = Close.assertMaxAbsRelative(Fixtures.displayName(dir), Close.toDouble(io.toFloatArray("out")),
                    Close.toDouble(out.toFloatArray()), 1e-3);
            Close.report(Fixtures.displayName(dir) + " max|diff|/max|ref| = " + String.format("%.3e", err));

            long nullClass = model.config().numEmbedsAdaNorm();
            long[] labels = io.toLongArray("class_labels");
            double[] t = io.toDoubleArray("timestep");
            assertThrows(IllegalArgumentException.class,
                    () -> model.forward(x, t, java.util.Arrays.stream(labels).map(l -> nullClass + 1).toArray()));
            // the last row alone (its label may be the null class) is that row of the batch
            String last = (labels.length - 1) + ":";
            NDArray row = model.forward(x.get(last), new double[] {t[labels.length - 1]},
                    new long[] {labels[labels.length - 1]});
            Close.assertMaxAbsRelative("dit last row alone", Close.toDouble(out.get(last).toFloatArray()),
                    Close.toDouble(row.toFloatArray()), 1e-5);
        }
    }
}
