package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.SafetensorsException;

/** A quantized checkpoint that is inconsistent or in a format not supported; the message names the tensor. */
public final class QuantizedCheckpointException extends SafetensorsException {

    public QuantizedCheckpointException(String message) {
        super(message);
    }
}
