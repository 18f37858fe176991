package dev.jdiffuse.safetensors;

/**
 * The ggml tensor types a GGUF file can hold that {@link GgufFile} reads, with their numeric id (ggml's
 * {@code enum ggml_type} in {@code ggml.h}), block size in elements and bytes per block ({@code ggml_type_traits} in
 * {@code ggml.c}; the block structs are in {@code ggml-common.h}). Plain types have blocks of one element.
 * {@link #exposedAs()} is the dtype the tensor is served as: the stored one for plain types, F32 for quantized ones
 * (dequantized by {@link GgmlDequantizer}).
 *
 * <p>Left out: Q8_1 and Q8_K (ggml's intermediate formats for dot products, never stored in model files), the IQ*
 * importance-matrix and TQ ternary types and MXFP4 (lattice or table codebooks; none of the diffusion GGUFs people
 * use have them); a file holding one is refused naming the tensor and the type ({@link #fromId}).
 */
public enum GgmlType {
    F32(0, 1, 4, DType.F32),
    F16(1, 1, 2, DType.F16),
    Q4_0(2, 32, 18, null),
    Q4_1(3, 32, 20, null),
    Q5_0(6, 32, 22, null),
    Q5_1(7, 32, 24, null),
    Q8_0(8, 32, 34, null),
    Q2_K(10, 256, 84, null),
    Q3_K(11, 256, 110, null),
    Q4_K(12, 256, 144, null),
    Q5_K(13, 256, 176, null),
    Q6_K(14, 256, 210, null),
    I8(24, 1, 1, DType.I8),
    I16(25, 1, 2, DType.I16),
    I32(26, 1, 4, DType.I32),
    I64(27, 1, 8, DType.I64),
    F64(28, 1, 8, DType.F64),
    BF16(30, 1, 2, DType.BF16);

    /** ggml's names of the ids this reader refuses, for the error message. */
    private static final String[] OTHER_NAMES = new String[40];

    static {
        OTHER_NAMES[4] = "Q4_2 (removed from ggml)";
        OTHER_NAMES[5] = "Q4_3 (removed from ggml)";
        OTHER_NAMES[9] = "Q8_1";
        OTHER_NAMES[15] = "Q8_K";
        OTHER_NAMES[16] = "IQ2_XXS";
        OTHER_NAMES[17] = "IQ2_XS";
        OTHER_NAMES[18] = "IQ3_XXS";
        OTHER_NAMES[19] = "IQ1_S";
        OTHER_NAMES[20] = "IQ4_NL";
        OTHER_NAMES[21] = "IQ3_S";
        OTHER_NAMES[22] = "IQ2_S";
        OTHER_NAMES[23] = "IQ4_XS";
        OTHER_NAMES[29] = "IQ1_M";
        OTHER_NAMES[34] = "TQ1_0";
        OTHER_NAMES[35] = "TQ2_0";
        OTHER_NAMES[39] = "MXFP4";
    }

    private final int id;
    private final int blockElements;
    private final int blockBytes;
    private final DType plain;

    GgmlType(int id, int blockElements, int blockBytes, DType plain) {
        this.id = id;
        this.blockElements = blockElements;
        this.blockBytes = blockBytes;
        this.plain = plain;
    }

    /** ggml's {@code enum ggml_type} value. */
    public int id() {
        return id;
    }

    /** Elements per block ({@code blck_size}): 1 for plain types, 32 for Q4_0..Q8_0, 256 ({@code QK_K}) for K-quants. */
    public int blockElements() {
        return blockElements;
    }

    /** Bytes per block ({@code type_size}). */
    public int blockBytes() {
        return blockBytes;
    }

    /** Whether elements are stored in scaled blocks that must be dequantized. */
    public boolean isQuantized() {
        return plain == null;
    }

    /** The dtype a tensor of this type is served as: the stored one, or F32 for a quantized type. */
    public DType exposedAs() {
        return plain == null ? DType.F32 : plain;
    }

    /** The type with ggml id {@code id}, or null when this reader does not know it (see {@link #nameOf}). */
    public static GgmlType fromId(long id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** ggml's name of type {@code id}, for messages: ours, a known but unsupported one, or "unknown type N". */
    public static String nameOf(long id) {
        GgmlType t = fromId(id);
        if (t != null) {
            return t.name();
        }
        if (id >= 0 && id < OTHER_NAMES.length && OTHER_NAMES[(int) id] != null) {
            return OTHER_NAMES[(int) id] + " (ggml type " + id + ")";
        }
        return "unknown ggml type " + id;
    }
}
