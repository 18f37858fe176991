package dev.jdiffuse.safetensors;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor to write: element type, shape and its raw little-endian bytes (position to limit). The factories encode
 * Java arrays; {@link #ofFloats(DType, long[], float[])} narrows to F16/BF16 with round-to-nearest-even.
 *
 * @param dtype element type
 * @param shape dimensions, outermost first; defensively copied
 * @param data  exactly {@code numel x dtype.byteSize()} bytes, little-endian; not copied, read at write time
 */
public record TensorData(DType dtype, long[] shape, ByteBuffer data) {

    public TensorData {
        shape = shape.clone();
        long numel = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            numel = Math.multiplyExact(numel, d);
        }
        long bytes = Math.multiplyExact(numel, (long) dtype.byteSize());
        if (data.remaining() != bytes) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of " + dtype + " needs " + bytes
                    + " bytes, got " + data.remaining());
        }
        data = data.duplicate();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public ByteBuffer data() {
        return data.duplicate();
    }

    public static TensorData of(DType dtype, long[] shape, byte[] bytes) {
        return new TensorData(dtype, shape, ByteBuffer.wrap(bytes));
    }

    /** F32 tensor. */
    public static TensorData ofFloats(long[] shape, float[] values) {
        return ofFloats(DType.F32, shape, values);
    }

    /** Floats encoded as {@code dtype}: F64, F32, F16 or BF16 (rounded to nearest even). */
    public static TensorData ofFloats(DType dtype, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, dtype.byteSize()))
                .order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case F64 -> {
                for (float v : values) {
                    b.putDouble(v);
                }
            }
            case F32 -> b.asFloatBuffer().put(values);
            case F16 -> {
                for (float v : values) {
                    b.putShort(HalfFloats.floatToHalf(v));
                }
            }
            case BF16 -> {
                for (float v : values) {
                    b.putShort(HalfFloats.floatToBf16(v));
                }
            }
            default -> throw new IllegalArgumentException("cannot encode floats as " + dtype);
        }
        return new TensorData(dtype, shape, b.rewind());
    }

    /** F64 tensor. */
    public static TensorData ofDoubles(long[] shape, double[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 8)).order(ByteOrder.LITTLE_ENDIAN);
        b.asDoubleBuffer().put(values);
        return new TensorData(DType.F64, shape, b);
    }

    /** I64 tensor. */
    public static TensorData ofLongs(long[] shape, long[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 8)).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return new TensorData(DType.I64, shape, b);
    }

    /** I32 tensor. */
    public static TensorData ofInts(long[] shape, int[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 4)).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(values);
        return new TensorData(DType.I32, shape, b);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorData t && dtype == t.dtype && Arrays.equals(shape, t.shape) && data.equals(t.data);
    }

    @Override
    public int hashCode() {
        return dtype.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return dtype + Arrays.toString(shape);
    }
}
