package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;

/** Reads a case's {@code io.safetensors} tensors and compares outputs with the model tolerance. */
final class FixtureIo {

    static final double MODEL_TOLERANCE = 1e-3;

    private FixtureIo() {
    }

    static NDArray tensor(SafetensorsFile io, String name, NDManager manager) {
        return manager.create(io.toFloatArray(name), new Shape(io.info(name).shape()));
    }

    /** Asserts {@code max|diff| <= 1e-3 x max|ref|} and the shape, reports and returns the relative error. */
    static double compare(String what, SafetensorsFile io, String name, NDArray actual) {
        Shape expectedShape = new Shape(io.info(name).shape());
        if (!expectedShape.equals(actual.getShape())) {
            throw new AssertionError(what + ": shape " + actual.getShape() + ", expected " + expectedShape);
        }
        double err = Close.assertMaxAbsRelative(what, Close.toDouble(io.toFloatArray(name)),
                Close.toDouble(actual.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray()),
                MODEL_TOLERANCE);
        Close.report(String.format("%s max|diff|/max|ref| = %.3e", what, err));
        return err;
    }
}
