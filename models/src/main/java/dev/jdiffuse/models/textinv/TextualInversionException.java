package dev.jdiffuse.models.textinv;

/** A textual-inversion embedding file that cannot be read, or an embedding that does not fit a model; the message names it. */
public final class TextualInversionException extends IllegalArgumentException {

    public TextualInversionException(String message) {
        super(message);
    }
}
