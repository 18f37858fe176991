package dev.jdiffuse.samplers.batching;

/**
 * One job's place in a {@link StepBatcher}, bound to the thread that joined. The job is expected at each forward from
 * its first network call until {@link #leave}; {@link #cancel} (from any thread) takes its waiting call out at once,
 * and its later calls throw {@link java.util.concurrent.CancellationException}. Close it on the joining thread.
 */
public final class Lane implements AutoCloseable {

    final StepBatcher batcher;
    final int images;
    /** Guarded by the batcher's lock. */
    boolean expected;
    boolean cancelled;
    StepBatcher.RowsKey lastKey;
    /** {@link #leave} was called: the job's steps are done, its work after them (decoding) is next. */
    boolean left;
    /** A network call of the job is pending or running in the batcher (cleared as soon as its forward ends). */
    boolean inCall;
    /** The number of the last forward that served the job (0: none yet); jobs served by one forward share it. */
    long lastForward;
    /** The job called the batcher's {@link RowGatherer} (it is not expected there any more). */
    boolean gathered;

    Lane(StepBatcher batcher, int images) {
        this.batcher = batcher;
        this.images = images;
    }

    /** The job made its last network call (its last step is done): the others stop waiting for it. */
    public void leave() {
        batcher.left(this, false);
    }

    /** Stops the job: a call waiting for a forward leaves it now, later calls throw. Any thread. */
    public void cancel() {
        batcher.cancelled(this);
    }

    @Override
    public void close() {
        batcher.left(this, true);
    }
}
