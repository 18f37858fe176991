package dev.jdiffuse.safetensors;

import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A parsed and validated GGUF header (versions 2 and 3, little-endian), as ggml's {@code gguf.cpp} reads it and
 * {@code docs/gguf.md} of ggml specifies it:
 * <pre>
 *   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
 *   metadata_kv_count x { gguf_string key | u32 value_type | value }
 *   tensor_count x { gguf_string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32) | data section
 * </pre>
 * {@code gguf_string} is a u64 byte length and UTF-8 bytes. Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32,
 * 7 bool, 8 string, 9 array (u32 item type, u64 count, items), 10 u64, 11 i64, 12 f64. Metadata values are kept as
 * Java objects: Integer (u8, i8, u16, i16, i32), Long (u32, u64, i64), Float, Double, Boolean, String, and
 * {@code List} for arrays.
 *
 * <p>Checked: magic, version, counts and lengths against the bytes left, duplicate keys and names, {@code n_dims}
 * at most 4 ({@code GGML_MAX_DIMS}), dimensions non-negative and {@code ne[0]} a whole number of blocks, the ggml type
 * supported (else the tensor and its type are named), offsets aligned and every tensor's data inside the file, and
 * ComfyUI-GGUF's {@code comfy.gguf.orig_shape.<name>} (int array) holding as many elements as the stored tensor.
 */
record GgufHeader(int version, long alignment, Map<String, Object> metadata, Map<String, GgufTensor> tensors,
        long dataStart) {

    /** "GGUF" read as a little-endian u32. */
    static final int MAGIC = 0x46554747;
    static final String ALIGNMENT_KEY = "general.alignment";
    static final long DEFAULT_ALIGNMENT = 32;
    /** ComfyUI-GGUF's key prefix for the shape a tensor had before its converter reshaped it. */
    static final String ORIG_SHAPE_PREFIX = "comfy.gguf.orig_shape.";
    static final int MAX_DIMS = 4;

    private static final int ARRAY = 9;
    /** Bytes of the smallest value of each type (a string: its length field; an array: type and count). */
    private static final int[] MIN_BYTES = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

    static GgufHeader read(String file, FileChannel channel, long fileSize) {
        GgufCursor c = new GgufCursor(file, channel, fileSize);
        if (fileSize < 4) {
            throw new SafetensorsException(file + ": file has " + fileSize + " bytes, too short for a GGUF header");
        }
        int magic = c.i32("magic");
        if (magic != MAGIC) {
            throw new SafetensorsException(file + ": not a GGUF file: magic bytes "
                    + String.format("%08x", Integer.reverseBytes(magic)) + ", expected 47475546 (\"GGUF\")");
        }
        int version = c.i32("version");
        if (version == 1) {
            throw new SafetensorsException(file + ": GGUF version 1 (32-bit counts, 2023) is not supported; "
                    + "re-save the file with a current gguf-py");
        }
        if (version != 2 && version != 3) {
            throw new SafetensorsException(file + ": unsupported GGUF version " + Integer.toUnsignedString(version)
                    + (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3
                    ? " (a big-endian GGUF? only little-endian files are read)" : "") + "; versions 2 and 3 are read");
        }
        long tensorCount = c.i64("tensor count");
        long kvCount = c.i64("metadata count");
        // a tensor info takes at least 8 + 4 + 4 + 8 bytes, a key-value pair 8 + 4 + 1
        if (tensorCount < 0 || tensorCount > c.remaining() / 24) {
            throw new SafetensorsException(file + ": tensor count " + Long.toUnsignedString(tensorCount)
                    + " cannot fit in the file's " + fileSize + " bytes (truncated or corrupt header)");
        }
        if (kvCount < 0 || kvCount > c.remaining() / 13) {
            throw new SafetensorsException(file + ": metadata count " + Long.toUnsignedString(kvCount)
                    + " cannot fit in the file's " + fileSize + " bytes (truncated or corrupt header)");
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = c.string("metadata key " + i);
            int type = c.i32("type of metadata '" + key + "'");
            Object value = value(file, c, type, "metadata '" + key + "'");
            if (metadata.put(key, value) != null) {
                throw new SafetensorsException(file + ": metadata key '" + key + "' appears twice");
            }
        }
        long alignment = alignment(file, metadata);
        Map<String, GgufTensor> tensors = new LinkedHashMap<>();
        List<long[]> raw = new ArrayList<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = c.string("name of tensor " + i);
            String what = "tensor '" + name + "'";
            long nDims = c.u32("dimension count of " + what);
            if (nDims > MAX_DIMS) {
                throw new SafetensorsException(file + ": " + what + " has " + nDims + " dimensions, more than ggml's "
                        + MAX_DIMS);
            }
            long[] ne = new long[(int) nDims];
            for (int d = 0; d < ne.length; d++) {
                ne[d] = c.i64("dimension " + d + " of " + what);
                if (ne[d] < 0) {
                    throw new SafetensorsException(file + ": " + what + " has dimension " + d + " = "
                            + Long.toUnsignedString(ne[d]));
                }
            }
            long typeId = c.u32("type of " + what);
            long offset = c.i64("data offset of " + what);
            GgmlType type = GgmlType.fromId(typeId);
            if (type == null) {
                throw new SafetensorsException(file + ": " + what + " has ggml type " + GgmlType.nameOf(typeId)
                        + ", which is not supported (supported: " + Arrays.toString(GgmlType.values()) + ")");
            }
            GgufTensor t = tensor(file, name, type, ne, offset, alignment, metadata);
            if (tensors.put(name, t) != null) {
                throw new SafetensorsException(file + ": two tensors are named '" + name + "'");
            }
        }
        long dataStart = align(c.position(), alignment);
        for (GgufTensor t : tensors.values()) {
            long end = dataStart + t.offset() + t.storedBytes();
            if (t.offset() < 0 || end < 0 || end > fileSize) {
                throw new SafetensorsException(file + ": tensor '" + t.name() + "' data [" + (dataStart + t.offset())
                        + ", " + end + ") lies outside the file (" + fileSize + " bytes; truncated download?)");
            }
        }
        return new GgufHeader(version, alignment, Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(tensors), dataStart);
    }

    private static GgufTensor tensor(String file, String name, GgmlType type, long[] ne, long offset, long alignment,
            Map<String, Object> metadata) {
        String what = "tensor '" + name + "'";
        long numel = 1;
        try {
            for (long d : ne) {
                numel = Math.multiplyExact(numel, d);
            }
        } catch (ArithmeticException e) {
            throw new SafetensorsException(file + ": " + what + " dimensions " + Arrays.toString(ne) + " overflow");
        }
        if (ne.length > 0 && ne[0] % type.blockElements() != 0) {
            throw new SafetensorsException(file + ": " + what + " of type " + type + " has ne[0] = " + ne[0]
                    + ", not a multiple of its " + type.blockElements() + "-element blocks");
        }
        if (offset % alignment != 0) {
            throw new SafetensorsException(file + ": " + what + " data offset " + offset + " is not a multiple of the "
                    + "alignment " + alignment);
        }
        long stored;
        try {
            stored = Math.multiplyExact(numel / type.blockElements(), (long) type.blockBytes());
        } catch (ArithmeticException e) {
            throw new SafetensorsException(file + ": " + what + " is too large");
        }
        long[] shape = new long[ne.length];
        for (int i = 0; i < ne.length; i++) {
            shape[i] = ne[ne.length - 1 - i];
        }
        Object orig = metadata.get(ORIG_SHAPE_PREFIX + name);
        if (orig != null) {
            shape = origShape(file, what, orig, numel);
        }
        return new GgufTensor(name, type, ne, shape, offset, stored);
    }

    /** ComfyUI-GGUF's recorded PyTorch shape: an array of integers with the stored tensor's element count. */
    private static long[] origShape(String file, String what, Object value, long numel) {
        String key = ORIG_SHAPE_PREFIX + what.substring("tensor '".length(), what.length() - 1);
        if (!(value instanceof List<?> list) || !list.stream().allMatch(v -> v instanceof Integer || v instanceof Long)) {
            throw new SafetensorsException(file + ": metadata '" + key + "' is not an integer array: " + value);
        }
        long[] shape = list.stream().mapToLong(v -> ((Number) v).longValue()).toArray();
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new SafetensorsException(file + ": metadata '" + key + "' has a negative dimension");
            }
            n = Math.multiplyExact(n, d);
        }
        if (n != numel) {
            throw new SafetensorsException(file + ": metadata '" + key + "' = " + Arrays.toString(shape) + " holds "
                    + n + " elements but " + what + " stores " + numel);
        }
        return shape;
    }

    private static long alignment(String file, Map<String, Object> metadata) {
        Object a = metadata.get(ALIGNMENT_KEY);
        if (a == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (!(a instanceof Long l) || l == 0 || Long.bitCount(l) != 1) {
            throw new SafetensorsException(file + ": " + ALIGNMENT_KEY + " must be a u32 power of two, got " + a);
        }
        return l;
    }

    static long align(long offset, long alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }

    private static Object value(String file, GgufCursor c, int type, String what) {
        switch (type) {
            case 0:
                return c.u8(what);
            case 1:
                return (int) c.i8(what);
            case 2:
                return c.i16(what) & 0xffff;
            case 3:
                return (int) c.i16(what);
            case 4:
                return c.u32(what);
            case 5:
                return c.i32(what);
            case 6:
                return c.f32(what);
            case 7: {
                int b = c.u8(what);
                if (b > 1) {
                    throw new SafetensorsException(file + ": " + what + " is a bool with byte value " + b);
                }
                return b == 1;
            }
            case 8:
                return c.string(what);
            case ARRAY: {
                int itemType = c.i32(what + " item type");
                long count = c.i64(what + " item count");
                if (itemType < 0 || itemType >= MIN_BYTES.length) {
                    throw new SafetensorsException(file + ": " + what + " is an array of unknown value type "
                            + Integer.toUnsignedString(itemType));
                }
                if (count < 0 || count > c.remaining() / MIN_BYTES[itemType]) {
                    throw new SafetensorsException(file + ": truncated GGUF header: " + what + " claims "
                            + Long.toUnsignedString(count) + " items, more than the " + c.remaining()
                            + " bytes left hold");
                }
                List<Object> items = new ArrayList<>((int) Math.min(count, 1 << 16));
                for (long i = 0; i < count; i++) {
                    items.add(value(file, c, itemType, what + "[" + i + "]"));
                }
                return Collections.unmodifiableList(items);
            }
            case 10:
            case 11:
                return c.i64(what);
            case 12:
                return c.f64(what);
            default:
                throw new SafetensorsException(file + ": " + what + " has unknown value type "
                        + Integer.toUnsignedString(type) + " at offset " + (c.position() - 4));
        }
    }
}
