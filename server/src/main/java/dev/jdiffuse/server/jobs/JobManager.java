package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.Preview;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.models.ModelUnavailableException;
import dev.jdiffuse.server.web.ApiException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded FIFO of jobs served by one worker thread per device. Submissions beyond {@code capacity} waiting jobs
 * fail at once with {@link QueueFullException}. Every accepted job reaches exactly one terminal state; a failure
 * (exception, out of memory, NaN reported by the pipeline) ends that job alone and the worker takes the next.
 * Cancellation of a queued job is immediate; a running one stops at its next step boundary (the listener throws
 * {@link CancellationException}, the pipeline frees its memory and rethrows). Finished jobs are kept for the TTL and
 * then forgotten, with their images. With a {@link ModelRegistry} ({@link #useModels}) a job whose model is not loaded
 * is {@link JobStatus#LOADING} while the worker loads it, and every job pins its model while it runs.
 *
 * <p>The server trusts the pipeline to refuse NaN/black output (it throws); the only result check here is that the
 * pipeline returned one image per batch row.
 */
public final class JobManager implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(JobManager.class);
    private static final int MAX_ERROR_CHARS = 500;

    /** What a cancel request did. */
    public enum CancelOutcome { CANCELLED, CANCELLING, ALREADY_ENDED }

    private final int capacity;
    private final Duration ttl;
    private volatile JobEvents events = JobEvents.NONE;
    private volatile ModelRegistry models;
    private final JobOutcomes outcomes;
    private final ResultEncoder encoder;
    private final Clock clock;
    private final ConcurrentHashMap<String, Job> jobs = new ConcurrentHashMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private final List<Thread> workers = new ArrayList<>();
    private final ScheduledExecutorService sweeper;
    private volatile boolean open = true;
    /** Exponentially weighted mean run time, for Retry-After; starts at 5 s. */
    private volatile double meanRunSeconds = 5.0;

    public JobManager(int capacity, Duration ttl, int workerCount, JobOutcomes outcomes, ResultEncoder encoder,
            Clock clock) {
        if (capacity < 1 || workerCount < 1) {
            throw new IllegalArgumentException("capacity and workerCount must be >= 1");
        }
        this.capacity = capacity;
        this.ttl = ttl;
        this.outcomes = outcomes;
        this.encoder = encoder;
        this.clock = clock;
        for (int i = 0; i < workerCount; i++) {
            Thread t = new Thread(this::workLoop, "jdiffuse-worker-" + i);
            t.setDaemon(true);
            workers.add(t);
        }
        sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "jdiffuse-job-sweeper");
            t.setDaemon(true);
            return t;
        });
    }

    /** Sets the one listener of every job's events (the stream hub, built after this manager) before {@link #start}. */
    public void listen(JobEvents listener) {
        events = listener;
    }

    /**
     * Runs jobs through {@code registry}: the worker loads a job's model when its turn comes and leases it while it
     * runs; models that queued jobs name are the last evicted. Without a registry, jobs run the model they hold.
     */
    public void useModels(ModelRegistry registry) {
        this.models = registry;
        registry.demand(this::queuedModels);
    }

    /** The names of the models waiting jobs will run. */
    public Set<String> queuedModels() {
        lock.lock();
        try {
            return queue.stream().map(Job::modelName).collect(Collectors.toUnmodifiableSet());
        } finally {
            lock.unlock();
        }
    }

    public void start() {
        workers.forEach(Thread::start);
        long period = Math.max(50, Math.min(30_000, ttl.toMillis() / 4));
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.MILLISECONDS);
    }

    /** Accepts a job or throws {@link QueueFullException}; also refuses (IllegalStateException) after close. */
    public Job submit(Submission v) {
        return enqueue(new Job(UUID.randomUUID().toString(), v, clock.instant(), System.nanoTime()));
    }

    /** Accepts a job for a model that is not loaded yet; the worker loads it and resolves the request. */
    public Job submit(PendingSubmission v) {
        return enqueue(new Job(UUID.randomUUID().toString(), v, clock.instant(), System.nanoTime()));
    }

    private Job enqueue(Job job) {
        lock.lock();
        try {
            if (!open) {
                throw new IllegalStateException("the server is shutting down");
            }
            if (queue.size() >= capacity) {
                throw new QueueFullException(capacity, retryAfterSeconds());
            }
            jobs.put(job.id(), job);
            job.position(queue.size());
            queue.addLast(job);
            notEmpty.signal();
        } finally {
            lock.unlock();
        }
        return job;
    }

    private long retryAfterSeconds() {
        double s = meanRunSeconds * (queue.size() + 1) / workers.size();
        return Math.max(1, Math.min(3600, (long) Math.ceil(s)));
    }

    public Optional<Job> get(String id) {
        Job j = jobs.get(id);
        if (j != null && expired(j, clock.instant())) {
            jobs.remove(id, j);
            return Optional.empty();
        }
        return Optional.ofNullable(j);
    }

    /** Jobs ahead of {@code job} in the queue (0 = next to start), or empty if it is not waiting. */
    public Optional<Integer> position(Job job) {
        return job.position();
    }

    public int queueDepth() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    public int capacity() {
        return capacity;
    }

    /** Whether every worker thread is alive (for readiness). */
    public boolean workersAlive() {
        return open && workers.stream().allMatch(Thread::isAlive);
    }

    public CancelOutcome cancel(Job job) {
        boolean removed;
        List<Job> moved;
        lock.lock();
        try {
            removed = queue.remove(job);
            moved = removed ? List.copyOf(queue) : List.of();
        } finally {
            lock.unlock();
        }
        if (removed) {
            end(job, JobStatus.CANCELLED, null, null, new Job.Error("cancelled", "cancelled before it started"));
            announcePositions(moved);
            return CancelOutcome.CANCELLED;
        }
        if (job.status().terminal()) {
            return CancelOutcome.ALREADY_ENDED;
        }
        job.requestCancel();
        return job.status().terminal() ? CancelOutcome.ALREADY_ENDED : CancelOutcome.CANCELLING;
    }

    private void workLoop() {
        while (open) {
            Job job;
            List<Job> moved;
            lock.lock();
            try {
                while (open && queue.isEmpty()) {
                    notEmpty.await();
                }
                if (!open) {
                    return;
                }
                job = queue.pollFirst();
                moved = List.copyOf(queue);
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.unlock();
            }
            announcePositions(moved);
            try {
                run(job);
            } catch (RuntimeException e) {
                LOG.error("unexpected error around job {}", job.id(), e);
            }
        }
    }

    private void announcePositions(List<Job> waiting) {
        for (int i = 0; i < waiting.size(); i++) {
            waiting.get(i).position(i);
            events.onPosition(waiting.get(i), i);
        }
    }

    private void run(Job job) {
        long t0 = System.nanoTime();
        ModelRegistry registry = models;
        boolean load = registry != null && registry.loaded(job.modelName()).isEmpty();
        if (!(load ? job.loading(clock.instant(), t0) : job.start(clock.instant(), t0))) {
            return;
        }
        events.onStarted(job);
        try (ModelRegistry.Lease lease = registry == null ? null : registry.acquire(job.modelName())) {
            if (job.cancelRequested()) {
                throw new CancellationException("cancelled");
            }
            Submission work = job.submission();
            if (work == null) {
                work = job.pending().resolve().apply(lease.model());
                job.resolved(work);
            }
            if (load) {
                t0 = System.nanoTime();
                job.start(clock.instant(), t0);
                events.onStarted(job);
            }
            // the lease's model: the submission's may have been evicted and loaded again since it was validated
            LoadedModel model = lease == null ? work.model() : lease.model();
            GenerationResult result = model.pipeline().generate(work.request(), listener(job, t0));
            if (job.cancelRequested()) {
                throw new CancellationException("cancelled");
            }
            if (result == null || result.images().size() != work.request().batchSize()) {
                throw new IllegalStateException("the pipeline returned " + (result == null ? 0
                        : result.images().size()) + " images for a batch of " + work.request().batchSize());
            }
            List<byte[]> pngs = encoder.encode(job, result);
            end(job, JobStatus.SUCCEEDED, result, pngs, null);
        } catch (CancellationException e) {
            end(job, JobStatus.CANCELLED, null, null, new Job.Error("cancelled",
                    "cancelled while running, after step " + (job.progress().step() + 1) + " of " + job.totalSteps()));
        } catch (ModelUnavailableException e) {
            end(job, JobStatus.FAILED, null, null, new Job.Error("model_unavailable", clientMessage(e), "model"));
        } catch (ApiException e) {
            // a request for a model that was not loaded, checked once it loaded: the 400 the API would have answered
            var d = e.body().error();
            end(job, JobStatus.FAILED, null, null, new Job.Error(d.code(), d.message(), d.field()));
        } catch (InvalidRequestException e) {
            // the API checks every request before queueing it; this is a model that changed its mind
            end(job, JobStatus.FAILED, null, null, new Job.Error("invalid_request", clientMessage(e),
                    e.first().field()));
        } catch (GenerationException e) {
            LOG.error("job {} failed", job.id(), e);
            end(job, JobStatus.FAILED, null, null, new Job.Error(e.kind().apiCode(), clientMessage(e)));
        } catch (OutOfMemoryError e) {
            LOG.error("job {} ran out of memory", job.id(), e);
            end(job, JobStatus.FAILED, null, null, new Job.Error("out_of_memory", clientMessage(e)));
        } catch (Exception e) {
            LOG.error("job {} failed", job.id(), e);
            end(job, JobStatus.FAILED, null, null, new Job.Error("generation_failed", clientMessage(e)));
        }
    }

    private GenerationListener listener(Job job, long t0) {
        return new GenerationListener() {
            @Override
            public void onStep(int step, int steps, double sigma) {
                if (job.cancelRequested()) {
                    throw new CancellationException("cancelled");
                }
                job.progress(step, sigma);
                long elapsed = (System.nanoTime() - t0) / 1_000_000;
                long eta = elapsed * Math.max(0, steps - step - 1) / (step + 1);
                events.onStep(job, step, sigma, elapsed, eta);
            }

            @Override
            public void onPreview(Preview preview) {
                events.onPreview(job, preview);
            }
        };
    }

    /** The first line of the exception's message, bounded: engine messages carry native stack traces after it. */
    static String clientMessage(Throwable t) {
        String m = t.getMessage();
        if (m == null || m.isBlank()) {
            return t.getClass().getSimpleName();
        }
        m = m.strip();
        int nl = m.indexOf('\n');
        if (nl > 0) {
            m = m.substring(0, nl);
        }
        return m.length() > MAX_ERROR_CHARS ? m.substring(0, MAX_ERROR_CHARS) + "..." : m;
    }

    private void end(Job job, JobStatus status, GenerationResult result, List<byte[]> pngs, Job.Error error) {
        long now = System.nanoTime();
        if (!job.finish(status, result, pngs, error, clock.instant(), now)) {
            return;
        }
        long run = job.runMillis(now);
        if (job.startedAt() != null) {
            meanRunSeconds = 0.8 * meanRunSeconds + 0.2 * (run / 1000.0);
        }
        outcomes.ended(status, error == null ? null : error.code(), job.waitMillis(now), run,
                job.progress().step() + 1,
                result == null ? 0 : result.denoiseMillis());
        events.onFinished(job);
    }

    private boolean expired(Job j, Instant now) {
        Instant f = j.outcome().map(Job.Outcome::at).orElse(null);
        return f != null && f.plus(ttl).isBefore(now);
    }

    void sweep() {
        Instant now = clock.instant();
        jobs.values().removeIf(j -> expired(j, now));
    }

    /** Jobs currently remembered (waiting, running, or finished within the TTL). */
    public int size() {
        sweep();
        return jobs.size();
    }

    /**
     * Stops taking jobs: waiting jobs are cancelled (reason "shutdown"), running ones are asked to stop at their
     * next step and waited for up to {@code grace}.
     */
    public void close(Duration grace) {
        List<Job> waiting;
        lock.lock();
        try {
            open = false;
            waiting = List.copyOf(queue);
            queue.clear();
            notEmpty.signalAll();
        } finally {
            lock.unlock();
        }
        for (Job j : waiting) {
            end(j, JobStatus.CANCELLED, null, null, new Job.Error("shutdown", "the server is shutting down"));
        }
        jobs.values().stream().filter(j -> j.status() == JobStatus.RUNNING || j.status() == JobStatus.LOADING)
                .forEach(Job::requestCancel);
        for (Thread t : workers) {
            try {
                t.join(grace.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        sweeper.shutdownNow();
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }
}
