package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationResult;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One accepted request and its life: queue position, start, progress and how it ended. What the job shows (its
 * {@linkplain #parameters parameters}, owner, step count) is a snapshot taken at submission (a request accepted
 * for a model that was not loaded, a {@link PendingSubmission}, shows only its model name and seed until the worker
 * has loaded the model and resolved the request against it), so the heavy part (the
 * {@link Submission}: the model and the request with its decoded control images) is dropped once the job ends, and a
 * job read back from the history after a restart is the same kind of object. Fields written by the worker are
 * volatile and read by HTTP and stream threads; the end is one {@link Outcome} written once ({@link #finish}), so a
 * reader sees all of it or none.
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

    /** A succeeded run's timings (milliseconds), from the pipeline's result. */
    public record Timings(long encodeMillis, long denoiseMillis, long decodeMillis) {

        static Timings of(GenerationResult r) {
            return r == null ? null : new Timings(r.encodeMillis(), r.denoiseMillis(), r.decodeMillis());
        }
    }

    /**
     * How the job ended: its terminal status, a succeeded job's timings and number of images, else the error;
     * when, as an instant and on the monotonic clock.
     */
    public record Outcome(JobStatus status, Timings timings, int imageCount, Error error, Instant at, long nanos) {
    }

    private final String id;
    private final String owner;
    private final Priority priority;
    /** A request accepted for a model that was not loaded (model name and seed), or null. */
    private final PendingSubmission pending;
    private final Instant createdAt;
    private final long createdNanos;
    private final AtomicBoolean cancelRequested = new AtomicBoolean();

    private volatile Submission submission;
    /** Null while a pending job waits for its model (nothing is resolved yet). */
    private volatile GenerationParameters parameters;
    /** 0 until the request is resolved. */
    private volatile int totalSteps;
    private volatile JobStatus status = JobStatus.QUEUED;
    /** Jobs ahead of this one in the queue; -1 once it left the queue. Written by the job manager. */
    private volatile int position = -1;
    private volatile Instant startedAt;
    private volatile long startedNanos;
    /** When it started running (after its model loaded, for a job that waited for one): the deadline's origin. */
    private volatile long runningNanos;
    private volatile long runMillis = -1;
    /** When the pipeline returned the images (before PNG encoding and storing), or -1. */
    private volatile long generatedNanos = -1;
    private volatile Progress progress = new Progress(-1, Double.NaN);
    private volatile Outcome outcome;
    /** The PNGs while held in memory (null once dropped for the result budget, or never held). */
    private volatile List<byte[]> pngs;
    /** The PNGs' files in the output folder (empty without one). */
    private volatile List<Path> files = List.of();
    private volatile String cancelReason;
    /** The label of the device it runs on, set once when it leaves the queue (null before, and in the history). */
    private volatile String device;

    Job(String id, String owner, Priority priority, Submission submission, Instant now, long nanos) {
        this(id, owner, priority, submission, null, now, nanos);
    }

    Job(String id, String owner, Priority priority, PendingSubmission pending, Instant now, long nanos) {
        this(id, owner, priority, null, pending, now, nanos);
    }

    private Job(String id, String owner, Priority priority, Submission submission, PendingSubmission pending,
            Instant now, long nanos) {
        this.id = id;
        this.owner = owner;
        this.priority = priority;
        this.submission = submission;
        this.pending = pending;
        if (submission != null) {
            snapshot(submission);
        }
        this.createdAt = now;
        this.createdNanos = nanos;
    }

    /**
     * A job read back from the history: ended before this process started (or cancelled by its shutdown).
     * {@code parameters} is null for a job that ended while it waited for its model; {@code model} and {@code seed}
     * are what it was accepted with.
     */
    public static Job restored(String id, String owner, String model, long seed, GenerationParameters parameters,
            int totalSteps, int step, Instant createdAt, Instant startedAt, long runMillis, Outcome outcome,
            List<Path> files) {
        return new Job(id, owner, new PendingSubmission(model, seed, null), parameters, totalSteps, step, createdAt,
                startedAt, runMillis, outcome, files);
    }

    private Job(String id, String owner, PendingSubmission accepted, GenerationParameters parameters, int totalSteps,
            int step, Instant createdAt, Instant startedAt, long runMillis, Outcome outcome, List<Path> files) {
        this.id = id;
        this.owner = owner;
        this.priority = Priority.NORMAL;
        this.pending = accepted;
        this.parameters = parameters;
        this.totalSteps = totalSteps;
        this.createdAt = createdAt;
        this.createdNanos = outcome.nanos();
        this.startedAt = startedAt;
        this.runMillis = runMillis;
        this.progress = new Progress(step - 1, Double.NaN);
        this.outcome = outcome;
        this.status = outcome.status();
        this.files = List.copyOf(files);
    }

    public String id() {
        return id;
    }

    /** The name of the API key that submitted the job ({@code local} on a server without keys). */
    public String owner() {
        return owner;
    }

    public Priority priority() {
        return priority;
    }

    /**
     * The model, the resolved request (seed chosen, defaults filled) and the uploads it reads, while the job is
     * queued or running; null while it waits for a model that is not loaded yet ({@link #pending}), once it ended
     * (its memory is released) and for a job from the history.
     */
    public Submission submission() {
        return submission;
    }

    /**
     * The resolved parameters (the sampler and schedule the pipeline resolved, once it has run); null while the job
     * waits for a model that is not loaded yet, and for one that ended before its request could be resolved.
     */
    public GenerationParameters parameters() {
        return parameters;
    }

    /** The request as accepted for a model that was not loaded, or null. */
    PendingSubmission pending() {
        return pending;
    }

    /** The request, resolved against its model once that loaded. */
    void resolved(Submission s) {
        snapshot(s);
        submission = s;
    }

    private void snapshot(Submission s) {
        parameters = GenerationParameters.of(s, null);
        totalSteps = s.request().stepsRun();
    }

    /** The name of the model the job runs with. */
    public String modelName() {
        GenerationParameters p = parameters;
        return p != null ? p.model() : pending.model();
    }

    /** The seed (chosen when the job was accepted). */
    public long seed() {
        GenerationParameters p = parameters;
        return p != null ? p.seed() : pending.seed();
    }

    public JobStatus status() {
        return status;
    }

    /** The label of the device it was given when it left the queue; null while queued (and for history records). */
    public String device() {
        return device;
    }

    void device(String label) {
        device = label;
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
        if (runMillis >= 0 && submission == null && startedAt != null) {
            return Math.max(0, java.time.Duration.between(createdAt, startedAt).toMillis());
        }
        long end = startedAt != null ? startedNanos : o != null ? o.nanos() : nowNanos;
        return Math.max(0, (end - createdNanos) / 1_000_000);
    }

    /** Milliseconds spent running (so far, if running); 0 if it never ran. */
    public long runMillis(long nowNanos) {
        if (startedAt == null) {
            return 0;
        }
        if (runMillis >= 0) {
            return runMillis;
        }
        Outcome o = outcome;
        return ((o != null ? o.nanos() : nowNanos) - startedNanos) / 1_000_000;
    }

    /** Marks the moment the pipeline returned its images, before they are encoded and stored. */
    void generated(long nanos) {
        generatedNanos = nanos;
    }

    /**
     * Milliseconds from the start of the run to the pipeline's return (prompt encoding, sampling, decoding and the
     * host copy of the images), or null when unknown (not finished generating, or restored from the history).
     */
    public Long pipelineMillis() {
        long g = generatedNanos;
        return g < 0 || startedAt == null ? null : (g - startedNanos) / 1_000_000;
    }

    public Progress progress() {
        return progress;
    }

    /** The steps that run (image-to-image runs only the tail of the schedule); 0 until the request is resolved. */
    public int totalSteps() {
        return totalSteps;
    }

    /** How the job ended, or empty while it has not. */
    public Optional<Outcome> outcome() {
        return Optional.ofNullable(outcome);
    }

    /** How many images a succeeded job made (0 otherwise). */
    public int imageCount() {
        Outcome o = outcome;
        return o == null ? 0 : o.imageCount();
    }

    /** The PNGs held in memory, or null when they are not (dropped for the budget, or only on disk). */
    public List<byte[]> heldImages() {
        return pngs;
    }

    /** The files the PNGs were written to (empty without an output folder). */
    public List<Path> files() {
        return files;
    }

    void files(List<Path> written) {
        files = List.copyOf(written);
    }

    /** Drops the in-memory PNGs (they stay readable from {@link #files} if written); returns the bytes freed. */
    long dropHeldImages() {
        List<byte[]> p = pngs;
        pngs = null;
        return p == null ? 0 : p.stream().mapToLong(b -> b.length).sum();
    }

    public boolean cancelRequested() {
        return cancelRequested.get();
    }

    /** Why a cancel was requested ({@code cancelled}, {@code deadline}, {@code shutdown}). */
    String cancelReason() {
        String r = cancelReason;
        return r == null ? "cancelled" : r;
    }

    void requestCancel() {
        requestCancel("cancelled");
    }

    void requestCancel(String reason) {
        if (cancelReason == null) {
            cancelReason = reason;
        }
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
            runningNanos = nanos;
            return true;
        }
        if (!leaveQueue(JobStatus.RUNNING, now, nanos)) {
            return false;
        }
        runningNanos = nanos;
        return true;
    }

    /**
     * Milliseconds since it started running (0 unless running): the time {@code --max-job-seconds} bounds, which
     * leaves out loading its model.
     */
    public long runningMillis(long nowNanos) {
        return status == JobStatus.RUNNING ? Math.max(0, (nowNanos - runningNanos) / 1_000_000) : 0;
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

    /**
     * Moves to a terminal state unless already in one, keeping {@code images} in memory and the sampler and schedule
     * the pipeline resolved; drops the submission (the decoded uploads and the model reference). Returns whether this
     * call ended the job.
     */
    synchronized boolean finish(JobStatus terminal, GenerationResult result, List<byte[]> images, Error err,
            Instant now, long nanos) {
        if (status.terminal()) {
            return false;
        }
        position = -1;
        Submission s = submission;
        if (result != null && s != null) {
            parameters = GenerationParameters.of(s, result);
        }
        pngs = images == null || images.isEmpty() ? null : List.copyOf(images);
        outcome = new Outcome(terminal, Timings.of(result), images == null ? 0 : images.size(), err, now, nanos);
        status = terminal;
        submission = null;
        return true;
    }
}
