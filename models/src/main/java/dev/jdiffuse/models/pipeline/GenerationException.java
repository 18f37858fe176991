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
        /**
         * The device is broken for this process (a CUDA error that corrupts its context): every later job there
         * fails too until the server restarts ({@link EngineFailures}).
         */
        DEVICE_FAILED("device_failed"),
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

    public Kind kind() {
        return kind;
    }
}
