package dev.jdiffuse.samplers.nd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * ScalarOps gives exactly what DJL's own array-with-number methods give (same dtype, same bits), for every number
 * class they take and for float32, float16 and int arrays, so replacing one with the other changes no result.
 */
class ScalarOpsTest {

    private record Op(String name, BiFunction<NDArray, Number, NDArray> ours, BiFunction<NDArray, Number, NDArray> djl) {
    }

    private static final List<Op> OPS = List.of(
            new Op("mul", ScalarOps::mul, NDArray::mul),
            new Op("div", ScalarOps::div, NDArray::div),
            new Op("add", ScalarOps::add, NDArray::add),
            new Op("sub", ScalarOps::sub, NDArray::sub),
            new Op("pow", ScalarOps::pow, NDArray::pow),
            new Op("maximum", ScalarOps::maximum, NDArray::maximum),
            new Op("minimum", ScalarOps::minimum, NDArray::minimum),
            new Op("eq", ScalarOps::eq, NDArray::eq),
            new Op("rsub", (a, n) -> ScalarOps.rsub(n, a), (a, n) -> a.getNDArrayInternal().rsub(n)),
            new Op("rdiv", (a, n) -> ScalarOps.rdiv(n, a), (a, n) -> a.getNDArrayInternal().rdiv(n)));

    @Test
    void equalsDjlsOwnArithmeticBitForBit() {
        List<Number> numbers = List.of(0.1f, 3.7f, 0.1, 1e-7, Math.PI, 3, -2, 5L);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray f32 = m.create(new float[] {-2.5f, -0.3f, 0f, 0.7f, 1.9f, 123.456f});
            for (NDArray a : List.of(f32, f32.toType(DataType.FLOAT16, false), f32.toType(DataType.FLOAT64, false))) {
                for (Op op : OPS) {
                    for (Number n : numbers) {
                        NDArray ours = op.ours().apply(a, n);
                        NDArray theirs = op.djl().apply(a, n);
                        String what = op.name() + " " + a.getDataType() + " " + n + " (" + n.getClass().getSimpleName()
                                + ")";
                        assertEquals(theirs.getDataType(), ours.getDataType(), what);
                        assertEquals(theirs.getShape(), ours.getShape(), what);
                        assertArrayEquals(theirs.toType(DataType.FLOAT64, false).toDoubleArray(),
                                ours.toType(DataType.FLOAT64, false).toDoubleArray(), 0.0, what);
                    }
                }
            }
        }
    }

    @Test
    void theScalarHasTheTypeAndValueDjlWouldGiveIt() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray like = m.zeros(new ai.djl.ndarray.types.Shape(2));
            assertEquals(DataType.FLOAT64, ScalarOps.scalarLike(like, 0.1).getDataType());
            assertEquals(0.1, ScalarOps.scalarLike(like, 0.1).getDouble());
            assertEquals(DataType.FLOAT32, ScalarOps.scalarLike(like, 0.1f).getDataType());
            assertEquals(0.1f, ScalarOps.scalarLike(like, 0.1f).getFloat());
            assertEquals(DataType.INT32, ScalarOps.scalarLike(like, 7).getDataType());
            assertEquals(DataType.INT64, ScalarOps.scalarLike(like, 7L).getDataType());
            assertEquals(0, ScalarOps.scalarLike(like, 7).getShape().dimension());
            assertThrows(IllegalArgumentException.class, () -> ScalarOps.scalarLike(like, (short) 1));
        }
    }
}
