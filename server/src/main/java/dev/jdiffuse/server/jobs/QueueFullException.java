package dev.jdiffuse.server.jobs;

/** The queue holds its capacity; the client should retry after {@link #retryAfterSeconds()}. */
public final class QueueFullException extends RuntimeException {

    private final long retryAfterSeconds;

    public QueueFullException(int capacity, long retryAfterSeconds) {
        super("the queue is full (" + capacity + " jobs waiting); retry after " + retryAfterSeconds + " s", null,
                false, false);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
