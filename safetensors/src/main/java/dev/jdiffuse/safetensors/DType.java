package dev.jdiffuse.safetensors;

/**
 * Element types of the safetensors format, spelled as in the header's {@code "dtype"} field, with their size in
 * bytes. {@link #F8_E4M3} and {@link #F8_E5M2} are known so that such files open and their raw bytes can be read;
 * {@link TensorSource#toFloatArray(String)} decodes them too (OCP FP8 formats, E4M3 in its "FN" variant).
 */
public enum DType {
    F64(8, true),
    F32(4, true),
    F16(2, true),
    BF16(2, true),
    F8_E4M3(1, true),
    F8_E5M2(1, true),
    I64(8, false),
    I32(4, false),
    I16(2, false),
    I8(1, false),
    U8(1, false),
    BOOL(1, false);

    private final int byteSize;
    private final boolean floatingPoint;

    DType(int byteSize, boolean floatingPoint) {
        this.byteSize = byteSize;
        this.floatingPoint = floatingPoint;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /** The header spelling, e.g. {@code "BF16"}. */
    public String headerName() {
        return name();
    }

    /** Parses a header dtype string (exact, upper case as the format writes it); {@code null} when unknown. */
    public static DType fromHeaderName(String s) {
        if (s == null) {
            return null;
        }
        for (DType d : values()) {
            if (d.name().equals(s)) {
                return d;
            }
        }
        return null;
    }
}
