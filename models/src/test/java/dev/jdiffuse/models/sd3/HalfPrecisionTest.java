package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.jdiffuse.models.sd3.Sd3Io.read;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The dtype plumbing of the GPU path, run on the CPU in float16: float32 inputs are cast to the weights' dtype, the
 * output comes back in it, and it stays near the float32 reference (fp16 keeps 11 bits of mantissa, so this is a
 * sanity bound of 1 percent, not the parity tolerance, which the float32 tests hold).
 */
class HalfPrecisionTest {

    @TestFactory
    List<DynamicTest> float16RunsCloseToReference() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : Fixtures.cases("sd3_transformer")) {
            tests.add(DynamicTest.dynamicTest(Fixtures.displayName(dir) + " fp16", () -> sd3(dir)));
        }
        if (Fixtures.present("dit")) {
            Path dir = Fixtures.root().resolve("dit");
            tests.add(DynamicTest.dynamicTest("dit fp16", () -> dit(dir)));
        }
        if (tests.isEmpty()) {
            tests.add(DynamicTest.dynamicTest("sd3_transformer (absent)", () -> Fixtures.require("sd3_transformer")));
        }
        return tests;
    }

    private static void compare(String name, SafetensorsFile io, NDArray out) {
        assertEquals(DataType.FLOAT16, out.getDataType());
        double err = Close.assertMaxAbsRelative(name, Close.toDouble(io.toFloatArray("out")),
                Close.toDouble(out.toType(DataType.FLOAT32, false).toFloatArray()), 1e-2);
        Close.report(name + " max|diff|/max|ref| = " + String.format("%.3e", err));
    }

    private static void sd3(Path dir) {
        try (NDManager w = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            SD3Transformer2DModel model = SD3Transformer2DModel.load(dir, w, DataType.FLOAT16);
            NDArray out = Sd3Io.forward(model, act, io);
            compare(Fixtures.displayName(dir) + " fp16", io, out);
        }
    }

    private static void dit(Path dir) {
        try (NDManager w = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            DiTTransformer2DModel model = DiTTransformer2DModel.load(dir, w, DataType.FLOAT16);
            NDArray out = model.forward(read(act, io, "hidden_states"), io.toDoubleArray("timestep"),
                    io.toLongArray("class_labels"));
            compare("dit fp16", io, out);
        }
    }
}
