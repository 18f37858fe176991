package dev.jdiffuse.safetensors;

import java.util.Arrays;

/**
 * One tensor of a GGUF file as stored: its ggml type, its dimensions in ggml's order ({@code ne[0]} the fastest
 * varying, i.e. PyTorch's last), the PyTorch shape it is served with (the reversed dimensions, or ComfyUI-GGUF's
 * {@code comfy.gguf.orig_shape.<name>} where the file records one), and its byte range relative to the data section.
 *
 * @param name        tensor name
 * @param type        ggml type
 * @param ggmlDims    {@code ne[0..n_dims)}, innermost first; defensively copied
 * @param shape       the shape served, outermost first; defensively copied
 * @param offset      first byte relative to the data section
 * @param storedBytes bytes of data in the file ({@code numel / blockElements * blockBytes})
 */
public record GgufTensor(String name, GgmlType type, long[] ggmlDims, long[] shape, long offset, long storedBytes) {

    public GgufTensor {
        ggmlDims = ggmlDims.clone();
        shape = shape.clone();
    }

    @Override
    public long[] ggmlDims() {
        return ggmlDims.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements. */
    public long numel() {
        long n = 1;
        for (long d : ggmlDims) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensor t && name.equals(t.name) && type == t.type && Arrays.equals(ggmlDims, t.ggmlDims)
                && Arrays.equals(shape, t.shape) && offset == t.offset && storedBytes == t.storedBytes;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + type.hashCode()) * 31 + Arrays.hashCode(shape) + Long.hashCode(offset);
    }

    @Override
    public String toString() {
        return name + ": " + type + Arrays.toString(shape) + " (ggml ne " + Arrays.toString(ggmlDims) + ") @"
                + offset;
    }
}
