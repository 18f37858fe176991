package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.server.models.LoadedModel;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One generation request and its progress. Fields written by the worker are volatile and read by HTTP and stream
 * threads; the terminal transition is guarded so that a job ends exactly once ({@link #finish}).
 */
public final class Job {

    /** Why a job failed or was cancelled, as reported to clients; {@code field} is the request field at fault or null. */
    public record Error(String code, String message, String field) {

        public Error(String code, String message) {
            this(code, message, null);
        }
    }

    private final String id;
    private final LoadedModel model;
    private final GenerationRequest request;
    private final List<Submission.ControlRef> controls;
    private final Instant createdAt;
    private final long createdNanos;
    private final AtomicBoolean cancelRequested = new AtomicBoolean();

    private volatile JobStatus status = JobStatus.QUEUED;
    /** Jobs ahead of this one in the queue; -1 once it left the queue. Written by the job manager. */
    private volatile int position = -1;
    private volatile Instant startedAt;
    private volatile long startedNanos;
    private volatile Instant finishedAt;
    private volatile long finishedNanos;
    private volatile int step = -1;
    private volatile double sigma = Double.NaN;
    private volatile List<byte[]> images = List.of();
    private volatile GenerationResult result;
    private volatile Error error;

    Job(String id, Submission v, Instant now, long nanos) {
        this.id = id;
        this.model = v.model();
        this.request = v.request();
        this.controls = v.controls();
        this.createdAt = now;
        this.createdNanos = nanos;
    }

    public String id() {
        return id;
    }

    public LoadedModel model() {
        return model;
    }

    /** The resolved request (seed chosen, defaults filled). */
    public GenerationRequest request() {
        return request;
    }

    public List<Submission.ControlRef> controls() {
        return controls;
    }

    /** Jobs ahead of this one in the queue (0 = next to start), or empty when it is not waiting. */
    public Optional<Integer> position() {
        int p = position;
        return p < 0 ? Optional.empty() : Optional.of(p);
    }

    void position(int jobsAhead) {
        position = jobsAhead;
    }

    public JobStatus status() {
        return status;
    }

    public Instant createdAt() {
        return createdAt;
    }

    public Instant startedAt() {
        return startedAt;
    }

    public Instant finishedAt() {
        return finishedAt;
    }

    /** Milliseconds spent queued (so far, if still queued). */
    public long waitMillis(long nowNanos) {
        long end = startedAt != null ? startedNanos : finishedAt != null ? finishedNanos : nowNanos;
        return (end - createdNanos) / 1_000_000;
    }

    /** Milliseconds spent running (so far, if running); 0 if it never ran. */
    public long runMillis(long nowNanos) {
        if (startedAt == null) {
            return 0;
        }
        return ((finishedAt != null ? finishedNanos : nowNanos) - startedNanos) / 1_000_000;
    }

    /** Last completed step (0-based), -1 before the first. */
    public int step() {
        return step;
    }

    public int totalSteps() {
        return request.steps();
    }

    public double sigma() {
        return sigma;
    }

    /** The PNGs of a succeeded job (empty otherwise). */
    public List<byte[]> images() {
        return images;
    }

    /** The pipeline's result of a succeeded job (timings, sampler used, sigmas), else null. */
    public GenerationResult result() {
        return result;
    }

    public Error error() {
        return error;
    }

    public boolean cancelRequested() {
        return cancelRequested.get();
    }

    void requestCancel() {
        cancelRequested.set(true);
    }

    synchronized boolean start(Instant now, long nanos) {
        if (status != JobStatus.QUEUED) {
            return false;
        }
        startedAt = now;
        startedNanos = nanos;
        position = -1;
        status = JobStatus.RUNNING;
        return true;
    }

    void progress(int step, double sigma) {
        this.sigma = sigma;
        this.step = step;
    }

    /** Moves to a terminal state unless already in one; returns whether this call ended the job. */
    synchronized boolean finish(JobStatus terminal, GenerationResult result, List<byte[]> pngs, Error err,
            Instant now, long nanos) {
        if (status.terminal()) {
            return false;
        }
        this.position = -1;
        this.result = result;
        this.images = pngs == null ? List.of() : List.copyOf(pngs);
        this.error = err;
        this.finishedAt = now;
        this.finishedNanos = nanos;
        this.status = terminal;
        return true;
    }
}
