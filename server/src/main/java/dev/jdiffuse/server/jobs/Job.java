package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationResult;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One accepted request ({@link Submission}) and its life: queue position, start, progress and how it ended. Fields
 * written by the worker are volatile and read by HTTP and stream threads; the end is one {@link Outcome} written once
 * ({@link #finish}), so a reader sees all of it or none.
 */
public final class Job {

    /** Why a job failed or was cancelled, as reported; {@code field}: the request field at fault, or null. */
    public record Error(String code, String message, String field) {

        public Error(String code, String message) {
            this(code, message, null);
        }
    }

    /** The last completed step (0-based, -1 before the first) and the noise level the sample is at. */
    public record Progress(int step, double sigma) {
    }

    /**
     * How the job ended: its terminal status, and for a succeeded job the pipeline's result (timings, sampler used,
     * sigmas) and the PNGs, else the error; when, as an instant and on the monotonic clock.
     */
    public record Outcome(JobStatus status, GenerationResult result, List<byte[]> images, Error error, Instant at,
            long nanos) {
    }

    private final String id;
    /** Null until a {@link PendingSubmission}'s model has loaded and the request was resolved against it. */
    private volatile Submission submission;
    private final PendingSubmission pending;
    private final Instant createdAt;
    private final long createdNanos;
    private final AtomicBoolean cancelRequested = new AtomicBoolean();

    private volatile JobStatus status = JobStatus.QUEUED;
    /** Jobs ahead of this one in the queue; -1 once it left the queue. Written by the job manager. */
    private volatile int position = -1;
    private volatile Instant startedAt;
    private volatile long startedNanos;
    private volatile Progress progress = new Progress(-1, Double.NaN);
    private volatile Outcome outcome;

    Job(String id, Submission submission, Instant now, long nanos) {
        this(id, submission, null, now, nanos);
    }

    Job(String id, PendingSubmission pending, Instant now, long nanos) {
        this(id, null, pending, now, nanos);
    }

    private Job(String id, Submission submission, PendingSubmission pending, Instant now, long nanos) {
        this.id = id;
        this.submission = submission;
        this.pending = pending;
        this.createdAt = now;
        this.createdNanos = nanos;
    }

    public String id() {
        return id;
    }

    /**
     * The model, the resolved request (seed chosen, defaults filled) and the uploads it reads; null while the job
     * waits for a model that is not loaded yet ({@link #pending}).
     */
    public Submission submission() {
        return submission;
    }

    /** The request as accepted for a model that was not loaded, or null. */
    PendingSubmission pending() {
        return pending;
    }

    void resolved(Submission s) {
        submission = s;
    }

    /** The name of the model the job runs with. */
    public String modelName() {
        Submission s = submission;
        return s != null ? s.model().name() : pending.model();
    }

    /** The seed (chosen when the job was accepted). */
    public long seed() {
        Submission s = submission;
        return s != null ? s.request().seed() : pending.seed();
    }

    public JobStatus status() {
        return status;
    }

    /** Jobs ahead of this one in the queue (0 = next to start), or empty when it is not waiting. */
    public Optional<Integer> position() {
        int p = position;
        return p < 0 ? Optional.empty() : Optional.of(p);
    }

    void position(int jobsAhead) {
        position = jobsAhead;
    }

    public Instant createdAt() {
        return createdAt;
    }

    /** When the worker took the job, or null while it waits (or if it ended without running). */
    public Instant startedAt() {
        return startedAt;
    }

    /** Milliseconds spent queued (so far, if still queued). */
    public long waitMillis(long nowNanos) {
        Outcome o = outcome;
        long end = startedAt != null ? startedNanos : o != null ? o.nanos() : nowNanos;
        return (end - createdNanos) / 1_000_000;
    }

    /** Milliseconds spent running (so far, if running); 0 if it never ran. */
    public long runMillis(long nowNanos) {
        if (startedAt == null) {
            return 0;
        }
        Outcome o = outcome;
        return ((o != null ? o.nanos() : nowNanos) - startedNanos) / 1_000_000;
    }

    public Progress progress() {
        return progress;
    }

    /** The steps that run (image-to-image runs only the tail of the schedule); 0 until the request is resolved. */
    public int totalSteps() {
        Submission s = submission;
        return s == null ? 0 : s.request().stepsRun();
    }

    /** How the job ended, or empty while it has not. */
    public Optional<Outcome> outcome() {
        return Optional.ofNullable(outcome);
    }

    /** The PNGs of a succeeded job (empty otherwise). */
    public List<byte[]> images() {
        Outcome o = outcome;
        return o == null || o.images() == null ? List.of() : o.images();
    }

    public boolean cancelRequested() {
        return cancelRequested.get();
    }

    void requestCancel() {
        cancelRequested.set(true);
    }

    /** Leaves the queue to wait for its model's load; false if it already ended. */
    synchronized boolean loading(Instant now, long nanos) {
        return leaveQueue(JobStatus.LOADING, now, nanos);
    }

    /** Starts running: from the queue, or once its model has loaded (the start time stays the load's). */
    synchronized boolean start(Instant now, long nanos) {
        if (status == JobStatus.LOADING) {
            status = JobStatus.RUNNING;
            return true;
        }
        return leaveQueue(JobStatus.RUNNING, now, nanos);
    }

    private boolean leaveQueue(JobStatus next, Instant now, long nanos) {
        if (status != JobStatus.QUEUED) {
            return false;
        }
        startedAt = now;
        startedNanos = nanos;
        position = -1;
        status = next;
        return true;
    }

    void progress(int step, double sigma) {
        progress = new Progress(step, sigma);
    }

    /** Moves to a terminal state unless already in one; returns whether this call ended the job. */
    synchronized boolean finish(JobStatus terminal, GenerationResult result, List<byte[]> pngs, Error err,
            Instant now, long nanos) {
        if (status.terminal()) {
            return false;
        }
        position = -1;
        outcome = new Outcome(terminal, result, pngs == null ? List.of() : List.copyOf(pngs), err, now, nanos);
        status = terminal;
        return true;
    }
}
