package dev.jdiffuse.models.pipeline;

/**
 * A generation that was valid but could not produce an image: the job fails alone and the server keeps serving. The
 * {@link Kind} says why, so nothing downstream reads the message to classify it.
 */
public final class GenerationException extends RuntimeException {

    /** Why a generation failed; {@link #apiCode()} is the job record's error code. */
    public enum Kind {
        /** NaN or infinite latents or pixels (half-precision overflow, a diverging sampler). */
        NON_FINITE_OUTPUT("non_finite_output"),
        /** Host or device memory ran out for this job. */
        OUT_OF_MEMORY("out_of_memory"),
        /** Anything else the engine reported. */
        FAILED("generation_failed");

        private final String apiCode;

        Kind(String apiCode) {
            this.apiCode = apiCode;
        }

        public String apiCode() {
            return apiCode;
        }
    }

    private final Kind kind;

    public GenerationException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public GenerationException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    /** @deprecated transitional: field errors are {@link InvalidRequestException}; removed by the pipeline redesign */
    @Deprecated
    public GenerationException(String message) {
        this(message.contains("NaN") ? Kind.NON_FINITE_OUTPUT : Kind.FAILED, message);
    }

    /** @deprecated transitional: field errors are {@link InvalidRequestException}; removed by the pipeline redesign */
    @Deprecated
    public GenerationException(String field, String message) {
        this(Kind.FAILED, message);
        this.field = field;
    }

    private String field;

    /** @deprecated transitional */
    @Deprecated
    public String field() {
        return field;
    }

    public Kind kind() {
        return kind;
    }
}
