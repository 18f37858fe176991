package dev.jdiffuse.safetensors;

import java.util.Arrays;

/**
 * One header entry: element type, shape and the byte range {@code [begin, end)} of its data, relative to the start
 * of the data section (which starts at file offset {@code 8 + headerLength}). Offsets are 64-bit.
 *
 * @param name  tensor name as in the header
 * @param dtype element type
 * @param shape dimensions, outermost first ({@code []} for a scalar); defensively copied
 * @param begin first byte relative to the data section
 * @param end   one past the last byte relative to the data section
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Product of the dimensions (1 for a scalar); throws {@link ArithmeticException} on overflow. */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Bytes of data, {@code end - begin}. */
    public long byteSize() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + ": " + dtype + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
