package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.TensorSource;

/**
 * One tensor of a quantized checkpoint as the loaders see it: its true shape, float32 values computed from the stored
 * data and helper tensors on each read (nothing is cached: a loader reads each weight once).
 */
interface Dequantized {

    /** The tensor's true shape (of a bitsandbytes weight: its {@code quant_state} shape, not the packed bytes'). */
    long[] shape();

    /** What the values are made of, for messages and the log, e.g. {@code "fp8 x scale_weight"}. */
    String format();

    /** The dequantized elements, row-major, read from {@code raw}. */
    float[] values(TensorSource raw);
}
