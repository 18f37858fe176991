package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.TensorSource;

import java.nio.ByteBuffer;

/** Raw tensor bytes copied out in bulk (a memory copy, far faster than element-wise buffer reads). */
final class Bytes {

    private Bytes() {
    }

    /** The stored bytes of {@code name}, whatever its dtype. */
    static byte[] of(TensorSource raw, String name) {
        ByteBuffer b = raw.buffer(name);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
