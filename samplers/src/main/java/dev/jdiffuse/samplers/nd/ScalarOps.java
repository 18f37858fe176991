package dev.jdiffuse.samplers.nd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Array-with-number arithmetic that never waits for the device. DJL's {@code NDArray.mul(Number)} (and add, sub,
 * div, pow, maximum, minimum) first makes the number a 0-dim array on the array's device by copying it from the host
 * ({@code NDManager.create(Number)}), and PyTorch's blocking host-to-device copy synchronises the stream: the host
 * waits until the device has finished everything queued before it. In a sampling step that means each job's thread
 * waits for the shared denoiser forward to end before its guidance and sampler ops are even queued, so the device
 * idles while they and the next forward are launched; measured on an H200 (issue 13, session 5 run 3, 16 SD 1.5 jobs
 * sharing forwards of 32 rows): consecutive forwards started 106-107 ms apart against 98-102 ms for the forward
 * itself.
 *
 * <p>Here the 0-dim array is made on the device by {@code torch::full} (a fill kernel queued like any other op, no
 * copy), with exactly the dtype and value {@code create(Number)} gives (Integer INT32, Long INT64, Float FLOAT32,
 * Double FLOAT64; the double carries the value exactly), so results are bit-identical to DJL's own methods. Arrays
 * of another engine fall back to those methods. The temporary is closed right after the op: PyTorch's allocator
 * reuses its memory only for work queued after that op on the same stream.
 */
public final class ScalarOps {

    private ScalarOps() {
    }

    /** {@code a * n}. */
    public static NDArray mul(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.mul(s);
        }
    }

    /** {@code a / n}. */
    public static NDArray div(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.div(s);
        }
    }

    /** {@code a + n}. */
    public static NDArray add(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.add(s);
        }
    }

    /** {@code a - n}. */
    public static NDArray sub(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.sub(s);
        }
    }

    /** {@code n - a}. */
    public static NDArray rsub(Number n, NDArray a) {
        try (NDArray s = scalarLike(a, n)) {
            return s.sub(a);
        }
    }

    /** {@code n / a}. */
    public static NDArray rdiv(Number n, NDArray a) {
        try (NDArray s = scalarLike(a, n)) {
            return s.div(a);
        }
    }

    /** {@code a ^ n}. */
    public static NDArray pow(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.pow(s);
        }
    }

    /** Element-wise {@code max(a, n)}. */
    public static NDArray maximum(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.maximum(s);
        }
    }

    /** Element-wise {@code min(a, n)}. */
    public static NDArray minimum(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.minimum(s);
        }
    }

    /** Element-wise {@code a == n} (boolean). */
    public static NDArray eq(NDArray a, Number n) {
        try (NDArray s = scalarLike(a, n)) {
            return a.eq(s);
        }
    }

    /**
     * {@code n} as a 0-dim array on {@code like}'s device, in {@code like}'s manager, of the dtype
     * {@code NDManager.create(Number)} would give it, made without a host-to-device copy.
     */
    public static NDArray scalarLike(NDArray like, Number n) {
        if (!(like.getManager() instanceof PtNDManager manager)) {
            return like.getManager().create(n);
        }
        return JniUtils.full(manager, new Shape(), n.doubleValue(), typeOf(n), like.getDevice(), SparseFormat.DENSE);
    }

    /** The dtype {@code NDManager.create(Number)} gives a number of this class. */
    static DataType typeOf(Number n) {
        if (n instanceof Float) {
            return DataType.FLOAT32;
        }
        if (n instanceof Double) {
            return DataType.FLOAT64;
        }
        if (n instanceof Integer) {
            return DataType.INT32;
        }
        if (n instanceof Long) {
            return DataType.INT64;
        }
        if (n instanceof Byte) {
            return DataType.INT8;
        }
        throw new IllegalArgumentException("no array type for a " + n.getClass().getSimpleName());
    }
}
