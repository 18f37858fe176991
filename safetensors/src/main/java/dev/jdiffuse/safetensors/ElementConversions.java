package dev.jdiffuse.safetensors;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Decodes a little-endian tensor buffer into Java arrays. Floating-point widening is exact; integer to float may
 * round (I64/I32 beyond 2^24 into float). Integer results refuse floating-point sources and values that do not fit.
 */
final class ElementConversions {

    private ElementConversions() {
    }

    /** Reads {@code name} of {@code src}; the element count is checked before the data is touched. */
    static float[] toFloatArray(TensorSource src, String name) {
        return read(src, name, ElementConversions::toFloatArray);
    }

    private static float[] toFloatArray(String source, TensorInfo info, ByteBuffer data) {
        int n = arrayLength(source, info);
        ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[n];
        switch (info.dtype()) {
            case F32 -> b.asFloatBuffer().get(out);
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) b.getDouble(8 * i);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = HalfFloats.halfToFloat(b.getShort(2 * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = HalfFloats.bf16ToFloat(b.getShort(2 * i));
                }
            }
            case F8_E5M2 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = HalfFloats.e5m2ToFloat(b.get(i));
                }
            }
            case F8_E4M3 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = HalfFloats.e4m3fnToFloat(b.get(i));
                }
            }
            case I64, I32, I16, I8, U8, BOOL -> {
                for (int i = 0; i < n; i++) {
                    out[i] = integerAt(b, info.dtype(), i);
                }
            }
        }
        return out;
    }

    /** Element {@code i} of an integer or BOOL buffer (little-endian), widened to long. */
    private static long integerAt(ByteBuffer b, DType dtype, int i) {
        return switch (dtype) {
            case I64 -> b.getLong(8 * i);
            case I32 -> b.getInt(4 * i);
            case I16 -> b.getShort(2 * i);
            case I8 -> b.get(i);
            case U8 -> b.get(i) & 0xff;
            case BOOL -> b.get(i) != 0 ? 1 : 0;
            default -> throw new IllegalArgumentException("not an integer dtype: " + dtype);
        };
    }

    /** Reads {@code name} of {@code src}; the element count is checked before the data is touched. */
    static double[] toDoubleArray(TensorSource src, String name) {
        return read(src, name, ElementConversions::toDoubleArray);
    }

    private static double[] toDoubleArray(String source, TensorInfo info, ByteBuffer data) {
        int n = arrayLength(source, info);
        ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        double[] out = new double[n];
        switch (info.dtype()) {
            case F64 -> b.asDoubleBuffer().get(out);
            case I64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = b.getLong(8 * i);
                }
            }
            default -> {
                float[] f = toFloatArray(source, info, data); // exact for every other dtype
                for (int i = 0; i < n; i++) {
                    out[i] = f[i];
                }
            }
        }
        return out;
    }

    /** Reads {@code name} of {@code src}; the element count is checked before the data is touched. */
    static long[] toLongArray(TensorSource src, String name) {
        return read(src, name, ElementConversions::toLongArray);
    }

    private static long[] toLongArray(String source, TensorInfo info, ByteBuffer data) {
        int n = arrayLength(source, info);
        ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long[] out = new long[n];
        switch (info.dtype()) {
            case I64 -> b.asLongBuffer().get(out);
            case I32, I16, I8, U8, BOOL -> {
                for (int i = 0; i < n; i++) {
                    out[i] = integerAt(b, info.dtype(), i);
                }
            }
            default -> throw unsupported(source, info, "integer (use toFloatArray/toDoubleArray)");
        }
        return out;
    }

    /** Reads {@code name} of {@code src}; the element count is checked before the data is touched. */
    static int[] toIntArray(TensorSource src, String name) {
        return read(src, name, ElementConversions::toIntArray);
    }

    private static int[] toIntArray(String source, TensorInfo info, ByteBuffer data) {
        if (info.dtype() == DType.I32) {
            int[] out = new int[arrayLength(source, info)];
            data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
            return out;
        }
        long[] wide = toLongArray(source, info, data);
        int[] out = new int[wide.length];
        for (int i = 0; i < wide.length; i++) {
            if (wide[i] != (int) wide[i]) {
                throw new SafetensorsException(source + ": tensor '" + info.name() + "' element " + i + " = " + wide[i]
                        + " does not fit in an int");
            }
            out[i] = (int) wide[i];
        }
        return out;
    }

    /** One of the decoders below, applied to the buffer of {@code name} of {@code src}. */
    private interface Decoder<T> {
        T decode(String source, TensorInfo info, ByteBuffer data);
    }

    private static <T> T read(TensorSource src, String name, Decoder<T> decoder) {
        TensorInfo info = src.info(name);
        arrayLength(src.description(), info);
        return decoder.decode(src.description(), info, src.buffer(name));
    }

    private static int arrayLength(String source, TensorInfo info) {
        long n = info.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new SafetensorsException(source + ": tensor '" + info.name() + "' has " + n
                    + " elements, more than a Java array holds; read it with bufferChunks");
        }
        return (int) n;
    }

    private static SafetensorsException unsupported(String source, TensorInfo info, String target) {
        return new SafetensorsException(source + ": cannot convert tensor '" + info.name() + "' of dtype "
                + info.dtype() + " to " + target);
    }
}
