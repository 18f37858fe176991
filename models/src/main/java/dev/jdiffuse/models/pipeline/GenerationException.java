package dev.jdiffuse.models.pipeline;

/** A generation that cannot produce a valid image (NaN latents, a bad control image...): the job fails alone. */
public final class GenerationException extends RuntimeException {

    private final String field;

    public GenerationException(String message) {
        this(null, message);
    }

    /** @param field the request field at fault, or null */
    public GenerationException(String field, String message) {
        super(message);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
