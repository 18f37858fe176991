package dev.jdiffuse.models.checkpoint;

/** A checkpoint file this project cannot serve, with a message saying why and, where there is one, what to do. */
public final class CheckpointFormatException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    public CheckpointFormatException(String message) {
        super(message);
    }
}
