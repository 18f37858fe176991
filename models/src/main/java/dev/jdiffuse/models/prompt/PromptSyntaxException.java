package dev.jdiffuse.models.prompt;

/** A prompt A1111's parser cannot read (a weight such as {@code (a:1.2.3)}, where A1111 fails too). */
public final class PromptSyntaxException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    public PromptSyntaxException(String message) {
        super(message);
    }
}
