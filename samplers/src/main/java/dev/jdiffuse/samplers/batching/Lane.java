package dev.jdiffuse.samplers.batching;

/**
 * One job's place in a {@link StepBatcher}, bound to the thread that joined. The job is expected at each forward from
 * its first network call until {@link #leave}; {@link #cancel} (from any thread) takes its waiting call out at once,
 * and its later calls throw {@link java.util.concurrent.CancellationException}. Close it on the joining thread.
 */
public final class Lane implements AutoCloseable {

    final StepBatcher batcher;
    final int images;
    /** When the job joined ({@link System#nanoTime}). */
    final long joinedAt = System.nanoTime();
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
    /** The number of the forward that served the job before {@link #lastForward} (0: none). */
    long previousForward;
    /** The job called the batcher's {@link RowGatherer} (it is not expected there any more). */
    boolean gathered;
    /** Steps still to run after the last one reported to {@link #stepped}; -1 before the first report. */
    int stepsLeft = -1;
    /** Forwards that served the job since its last report. */
    int forwardsSinceReport;
    /**
     * Forwards the job's last reported step took (1 until a report says otherwise): Heun-like samplers make two or
     * three network calls a step, and counting each of them as a step would make the job look done too early.
     */
    int forwardsPerStep = 1;
    /** Its forwards run on the forward thread even when it is alone ({@link #pinToForwardThread}). */
    volatile boolean pinned;

    Lane(StepBatcher batcher, int images) {
        this.batcher = batcher;
        this.images = images;
    }

    /**
     * Step {@code step} (from 0) of {@code steps} is done. A job that shares a forward with one that finished is
     * waited for at decoding only if that forward may have been its last step (one step left, or none reported yet).
     */
    public void stepped(int step, int steps) {
        batcher.lock.lock();
        try {
            stepsLeft = Math.max(0, steps - 1 - step);
            if (forwardsSinceReport > 0) {
                forwardsPerStep = forwardsSinceReport;
            }
            forwardsSinceReport = 0;
            batcher.changed.signalAll(); // a report can end a wait for this job (StepBatcher, RowGatherer)
        } finally {
            batcher.lock.unlock();
        }
    }

    /**
     * Whether the job's last forward may have been its last step: no step reported yet, or one step left when the
     * report came before that forward (a report after it, with steps left, means another forward will follow).
     */
    boolean mayBeInLastStep() {
        return stepsLeft < 0 || stepsLeft == 0 || (stepsLeft == 1 && forwardsSinceReport > 0);
    }

    /**
     * Steps the job has left after its {@link #lastForward}, as far as its reports tell; -1 before the first report.
     * A step is reported after the forwards that served it, so the forwards since the last report count as steps of
     * as many forwards as the last reported step took (a step that takes fewer, as Heun's last, errs towards more
     * steps left: the job is waited for as before).
     */
    int stepsLeftAfterLastForward() {
        return stepsLeft < 0 ? -1 : Math.max(0, stepsLeft - forwardsSinceReport / forwardsPerStep);
    }

    /**
     * Whether the job is one forward behind a job whose last forward was {@code forward}: served by that forward with
     * one step left after it, or served by it the forward before and now in (or just out of) its last, left or not.
     */
    boolean oneForwardBehind(long forward) {
        if (forward == 0 || !(expected || left)) {
            return false;
        }
        int stepsLeft = stepsLeftAfterLastForward();
        return (lastForward == forward && stepsLeft == 1 && !left)
                || (lastForward != forward && previousForward == forward && stepsLeft == 0);
    }

    /**
     * The job's forwards run on the batcher's forward thread even when it runs alone with inline lone forwards on: a
     * warm-up does this, since what it warms (PyTorch's per-thread plans for each batch shape) is that thread's.
     *
     * @return this lane
     */
    public Lane pinToForwardThread() {
        pinned = true;
        return this;
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
