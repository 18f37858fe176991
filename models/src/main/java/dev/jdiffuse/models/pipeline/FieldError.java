package dev.jdiffuse.models.pipeline;

import java.util.Objects;

/**
 * One thing wrong with a request, found where it is checked and carried as data to the client: the API field at fault
 * ({@code "sampler"}, {@code "controlnets[0].scale"}; null when no single field is), a stable machine-readable code
 * ({@code "invalid_value"}, {@code "unknown_sampler"}, {@code "unsupported_combination"}...), and a human message.
 */
public record FieldError(String field, String code, String message) {

    public FieldError {
        Objects.requireNonNull(code, "code");
        Objects.requireNonNull(message, "message");
    }

    /** A value out of range or of the wrong form. */
    public static FieldError invalid(String field, String message) {
        return new FieldError(field, "invalid_value", message);
    }
}
