package dev.jdiffuse.safetensors;

/**
 * A safetensors file (or sharded index) that is malformed, truncated or inconsistent, or a request it cannot serve
 * (unknown tensor name, unsupported conversion). The message always names the file and what is wrong. Unchecked:
 * a corrupt weight file is not something a caller can usually recover from.
 */
public class SafetensorsException extends RuntimeException {

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
