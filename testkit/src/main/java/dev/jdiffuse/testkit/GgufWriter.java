package dev.jdiffuse.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF files for tests, independently of the reader under test, as gguf-py's {@code GGUFWriter} lays them out
 * (ggml's {@code docs/gguf.md}): {@code "GGUF"}, u32 version, u64 tensor count, u64 metadata count, the key-values,
 * the tensor infos (name, u32 n_dims, u64 ne[] innermost first, i.e. the PyTorch shape reversed, u32 ggml type, u64
 * offset into the data section), zero padding to the alignment, then each tensor's bytes padded to the alignment.
 * Also the encoders the tests need: F32, F16 and ggml's reference Q8_0 quantizer ({@code quantize_row_q8_0_ref}).
 * Knobs ({@link #version}, {@link #magic}) make malformed files for the error tests.
 */
public final class GgufWriter {

    public static final int F32 = 0;
    public static final int F16 = 1;
    public static final int Q4_0 = 2;
    public static final int Q4_1 = 3;
    public static final int Q5_0 = 6;
    public static final int Q5_1 = 7;
    public static final int Q8_0 = 8;
    public static final int Q2_K = 10;
    public static final int Q3_K = 11;
    public static final int Q4_K = 12;
    public static final int Q5_K = 13;
    public static final int Q6_K = 14;
    public static final int BF16 = 30;

    private static final int T_U8 = 0;
    private static final int T_I32 = 5;
    private static final int T_U32 = 4;
    private static final int T_F32 = 6;
    private static final int T_BOOL = 7;
    private static final int T_STRING = 8;
    private static final int T_ARRAY = 9;
    private static final int T_U64 = 10;
    private static final int T_F64 = 12;

    /** One tensor to write. */
    private record Entry(String name, int type, long[] ne, byte[] data) {
    }

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();
    private int version = 3;
    private int magic = 0x46554747;
    private int alignment = 32;

    /** The version field (2 and 3 are valid). */
    public GgufWriter version(int v) {
        this.version = v;
        return this;
    }

    /** The magic field as a little-endian u32 ({@code 0x46554747} is "GGUF"). */
    public GgufWriter magic(int m) {
        this.magic = m;
        return this;
    }

    /** Sets {@code general.alignment} (u32) and pads to it. */
    public GgufWriter alignment(int a) {
        this.alignment = a;
        metadata.put("general.alignment", new U32(a));
        return this;
    }

    /** A u32 metadata value (plain Integers are written as i32). */
    public record U32(long value) {
    }

    /**
     * A metadata value: String, Integer (i32), {@link U32}, Long (u64), Float, Double, Boolean, or a List of one of
     * those (an array).
     */
    public GgufWriter metadata(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    /** ComfyUI-GGUF's record of a tensor's PyTorch shape ({@code comfy.gguf.orig_shape.<name>}, an i32 array). */
    public GgufWriter origShape(String name, long... shape) {
        List<Integer> dims = new ArrayList<>();
        for (long d : shape) {
            dims.add(Math.toIntExact(d));
        }
        return metadata("comfy.gguf.orig_shape." + name, dims);
    }

    /** A tensor with PyTorch shape {@code shape} (written reversed) and its stored bytes. */
    public GgufWriter tensor(String name, int ggmlType, long[] shape, byte[] data) {
        long[] ne = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            ne[i] = shape[shape.length - 1 - i];
        }
        return tensorNe(name, ggmlType, ne, data);
    }

    /** A tensor with ggml dimensions {@code ne} (innermost first) as given. */
    public GgufWriter tensorNe(String name, int ggmlType, long[] ne, byte[] data) {
        tensors.add(new Entry(name, ggmlType, ne.clone(), data.clone()));
        return this;
    }

    public GgufWriter f32(String name, long[] shape, float[] values) {
        return tensor(name, F32, shape, f32Bytes(values));
    }

    public GgufWriter f16(String name, long[] shape, float[] values) {
        return tensor(name, F16, shape, f16Bytes(values));
    }

    /** Q8_0 of {@code values} (the last dimension a multiple of 32). */
    public GgufWriter q8_0(String name, long[] shape, float[] values) {
        return tensor(name, Q8_0, shape, quantizeQ8_0(values));
    }

    public void write(Path file) {
        try {
            Files.write(file, toBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public byte[] toBytes() {
        Out o = new Out();
        o.i32(magic);
        o.i32(version);
        o.i64(tensors.size());
        o.i64(metadata.size());
        metadata.forEach((k, v) -> {
            o.string(k);
            o.i32(typeOf(v));
            value(o, v);
        });
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (Entry t : tensors) {
            o.string(t.name);
            o.i32(t.ne.length);
            for (long d : t.ne) {
                o.i64(d);
            }
            o.i32(t.type);
            o.i64(offset);
            offsets.add(offset);
            offset = pad(offset + t.data.length);
        }
        o.zeros(pad(o.size()) - o.size());
        long dataStart = o.size();
        for (int i = 0; i < tensors.size(); i++) {
            o.zeros(dataStart + offsets.get(i) - o.size());
            o.bytes(tensors.get(i).data);
        }
        o.zeros(pad(o.size() - dataStart) + dataStart - o.size());
        return o.toByteArray();
    }

    private long pad(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    private static int typeOf(Object v) {
        if (v instanceof String) {
            return T_STRING;
        } else if (v instanceof Integer) {
            return T_I32;
        } else if (v instanceof U32) {
            return T_U32;
        } else if (v instanceof Long) {
            return T_U64;
        } else if (v instanceof Float) {
            return T_F32;
        } else if (v instanceof Double) {
            return T_F64;
        } else if (v instanceof Boolean) {
            return T_BOOL;
        } else if (v instanceof Byte) {
            return T_U8;
        } else if (v instanceof List<?>) {
            return T_ARRAY;
        }
        throw new IllegalArgumentException("no GGUF type for " + v);
    }

    private static void value(Out o, Object v) {
        switch (typeOf(v)) {
            case T_STRING -> o.string((String) v);
            case T_I32 -> o.i32((Integer) v);
            case T_U32 -> o.i32((int) ((U32) v).value());
            case T_U64 -> o.i64((Long) v);
            case T_F32 -> o.i32(Float.floatToRawIntBits((Float) v));
            case T_F64 -> o.i64(Double.doubleToRawLongBits((Double) v));
            case T_BOOL -> o.u8((Boolean) v ? 1 : 0);
            case T_U8 -> o.u8((Byte) v);
            default -> {
                List<?> list = (List<?>) v;
                o.i32(list.isEmpty() ? T_I32 : typeOf(list.get(0)));
                o.i64(list.size());
                list.forEach(item -> value(o, item));
            }
        }
    }

    public static byte[] f32Bytes(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return b.array();
    }

    public static byte[] f16Bytes(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            b.putShort(2 * i, toHalf(values[i]));
        }
        return b.array();
    }

    /**
     * IEEE binary16 bits of {@code f}, round to nearest even, written with double arithmetic (every step exact) so
     * it shares no code with the reader's conversion; overflow to infinity, NaN not handled (tests use none).
     */
    public static short toHalf(float f) {
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x8000 : 0;
        double a = Math.abs((double) f);
        if (a >= 65520) {
            return (short) (sign | 0x7c00);
        }
        if (a < 0x1p-14) {
            return (short) (sign | (int) Math.rint(a * 0x1p24)); // subnormal; 1024 is the smallest normal's bits
        }
        int exp = Math.getExponent(a);
        int mant = (int) Math.rint((a / Math.scalb(1.0, exp) - 1) * 1024);
        if (mant == 1024) {
            exp++;
            mant = 0;
        }
        return (short) (sign | (exp + 15) << 10 | mant);
    }

    /** binary16 bits to float (normal, subnormal and zero; tests use no infinities). */
    public static float fromHalf(short h) {
        int exp = (h >> 10) & 0x1f;
        int mant = h & 0x3ff;
        double v = exp == 0 ? mant * 0x1p-24 : (1 + mant / 1024.0) * Math.scalb(1.0, exp - 15);
        return (float) ((h & 0x8000) != 0 ? -v : v);
    }

    /**
     * ggml's {@code quantize_row_q8_0_ref}: per 32 values d = max|x| / 127 (stored as fp16), q = round(x / d) with
     * C's {@code roundf} (half away from zero), {@code block_q8_0 {half d; int8 qs[32]}}.
     */
    public static byte[] quantizeQ8_0(float[] x) {
        if (x.length % 32 != 0) {
            throw new IllegalArgumentException(x.length + " values: not whole 32-element blocks");
        }
        ByteBuffer b = ByteBuffer.allocate(x.length / 32 * 34).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < x.length / 32; i++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[32 * i + j]));
            }
            float d = amax / 127;
            float id = d != 0 ? 1 / d : 0;
            b.putShort(toHalf(d));
            for (int j = 0; j < 32; j++) {
                float v = x[32 * i + j] * id;
                b.put((byte) (v < 0 ? -Math.round(-v) : Math.round(v)));
            }
        }
        return b.array();
    }

    /** Little-endian output. */
    private static final class Out extends ByteArrayOutputStream {

        void u8(int v) {
            write(v);
        }

        void i32(int v) {
            for (int i = 0; i < 4; i++) {
                write(v >>> (8 * i));
            }
        }

        void i64(long v) {
            for (int i = 0; i < 8; i++) {
                write((int) (v >>> (8 * i)));
            }
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            bytes(b);
        }

        void bytes(byte[] b) {
            write(b, 0, b.length);
        }

        void zeros(long n) {
            for (long i = 0; i < n; i++) {
                write(0);
            }
        }
    }
}
