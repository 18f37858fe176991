package dev.jdiffuse.models.pipeline;

import java.util.List;

/**
 * A request that cannot run on this model, with every {@link FieldError} found. Thrown by {@link ImagePipeline#check}
 * users and by the pipeline itself when a request that skipped the check reaches it; the server answers it with 400
 * naming the first field. Never carries engine failures (those are {@link GenerationException}).
 */
public final class InvalidRequestException extends RuntimeException {

    private final List<FieldError> errors;

    public InvalidRequestException(List<FieldError> errors) {
        super(errors.isEmpty() ? "invalid request" : errors.get(0).message());
        if (errors.isEmpty()) {
            throw new IllegalArgumentException("an invalid request names at least one error");
        }
        this.errors = List.copyOf(errors);
    }

    public InvalidRequestException(FieldError error) {
        this(List.of(error));
    }

    public List<FieldError> errors() {
        return errors;
    }

    /** The first error: what a single-error response reports. */
    public FieldError first() {
        return errors.get(0);
    }
}
