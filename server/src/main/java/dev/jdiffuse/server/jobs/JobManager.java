package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.LaneListener;
import dev.jdiffuse.models.pipeline.Preview;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded FIFO of jobs served by worker threads: the head job starts when its images fit in the image budget
 * ({@code workerCount}: images of the jobs running at once; a larger job runs alone), so with a budget of 1 jobs run
 * one at a time. Jobs running together on one model join its {@link StepBatcher} and share denoiser forwards. PNG
 * encoding runs on its own threads after the job's images left the budget, so the next job starts meanwhile. Submissions beyond {@code capacity} waiting jobs
 * fail at once with {@link QueueFullException}. Every accepted job reaches exactly one terminal state; a failure
 * (exception, out of memory, NaN reported by the pipeline) ends that job alone and the worker takes the next.
 * Cancellation of a queued job is immediate; a running one stops at its next step boundary (the listener throws
 * {@link CancellationException}, the pipeline frees its memory and rethrows). Finished jobs are kept for the TTL and
 * then forgotten, with their images.
 *
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
    private final JobOutcomes outcomes;
    private final ResultEncoder encoder;
    private final Clock clock;
    private final ConcurrentHashMap<String, Job> jobs = new ConcurrentHashMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private final List<Thread> workers = new ArrayList<>();
    private final int imageBudget;
    /** Images of the jobs running now, and whether one of them runs alone; guarded by {@link #lock}. */
    private int runningImages;
    private boolean runningAlone;
    private final ConcurrentHashMap<Job, Lane> lanes = new ConcurrentHashMap<>();
    private final ExecutorService encoding;
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
        this.imageBudget = workerCount;
        this.encoding = Executors.newFixedThreadPool(Math.min(2, workerCount + 1), r -> {
            Thread t = new Thread(r, "jdiffuse-png");
            t.setDaemon(true);
            return t;
        });
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

    public void start() {
        workers.forEach(Thread::start);
        long period = Math.max(50, Math.min(30_000, ttl.toMillis() / 4));
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.MILLISECONDS);
    }

    /** Accepts a job or throws {@link QueueFullException}; also refuses (IllegalStateException) after close. */
    public Job submit(Submission v) {
        Job job = new Job(UUID.randomUUID().toString(), v, clock.instant(), System.nanoTime());
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
            notEmpty.signalAll();
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
        Lane lane = lanes.get(job);
        if (lane != null) {
            lane.cancel(); // a step waiting for a shared forward leaves it now
        }
        return job.status().terminal() ? CancelOutcome.ALREADY_ENDED : CancelOutcome.CANCELLING;
    }

    private void workLoop() {
        while (open) {
            Job job;
            List<Job> moved;
            lock.lock();
            try {
                while (open && (queue.isEmpty() || !fits(queue.peekFirst()))) {
                    notEmpty.await();
                }
                if (!open) {
                    return;
                }
                job = queue.pollFirst();
                runningImages += images(job);
                runningAlone = !batchable(job);
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
            } finally {
                lock.lock();
                try {
                    runningImages -= images(job);
                    runningAlone = false;
                    notEmpty.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /**
     * Whether {@code job} may start now: its images fit beside the running jobs' (a job alone always starts). Only
     * jobs on models that batch across requests run beside others; any other job runs alone.
     */
    private boolean fits(Job job) {
        return runningImages == 0 || (!runningAlone && batchable(job) && runningImages + images(job) <= imageBudget);
    }

    private boolean batchable(Job job) {
        return imageBudget > 1 && job.submission().model().pipeline().stepBatcher() != null;
    }

    private static int images(Job job) {
        return Math.max(1, job.submission().request().batchSize());
    }

    private void announcePositions(List<Job> waiting) {
        for (int i = 0; i < waiting.size(); i++) {
            waiting.get(i).position(i);
            events.onPosition(waiting.get(i), i);
        }
    }

    private void run(Job job) {
        long t0 = System.nanoTime();
        if (!job.start(clock.instant(), t0)) {
            return;
        }
        events.onStarted(job);
        try {
            if (job.cancelRequested()) {
                throw new CancellationException("cancelled");
            }
            Submission work = job.submission();
            GenerationResult result = generate(job, work, listener(job, t0));
            if (job.cancelRequested()) {
                throw new CancellationException("cancelled");
            }
            if (result == null || result.images().size() != work.request().batchSize()) {
                throw new IllegalStateException("the pipeline returned " + (result == null ? 0
                        : result.images().size()) + " images for a batch of " + work.request().batchSize());
            }
            encoding.execute(() -> encodeAndEnd(job, result));
        } catch (RuntimeException | Error e) {
            failed(job, e);
        }
    }

    /**
     * The pipeline's run; where the model batches across requests, inside a lane of its {@link StepBatcher}, left
     * after the last step so that the other jobs do not wait for this one's decoding.
     */
    private GenerationResult generate(Job job, Submission work, GenerationListener listener) {
        ImagePipeline pipeline = work.model().pipeline();
        StepBatcher batcher = imageBudget > 1 ? pipeline.stepBatcher() : null;
        if (batcher == null) {
            return pipeline.generate(work.request(), listener);
        }
        try (Lane lane = batcher.join(images(job))) {
            lanes.put(job, lane);
            if (job.cancelRequested()) {
                lane.cancel();
            }
            return pipeline.generate(work.request(), new LaneListener(lane, listener));
        } finally {
            lanes.remove(job);
        }
    }

    private void encodeAndEnd(Job job, GenerationResult result) {
        try {
            List<byte[]> pngs = encoder.encode(job, result);
            end(job, JobStatus.SUCCEEDED, result, pngs, null);
        } catch (RuntimeException | Error e) {
            failed(job, e);
        }
    }

    private void failed(Job job, Throwable t) {
        try {
            throw t;
        } catch (CancellationException e) {
            end(job, JobStatus.CANCELLED, null, null, new Job.Error("cancelled",
                    "cancelled while running, after step " + (job.progress().step() + 1) + " of " + job.totalSteps()));
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
        } catch (Throwable e) {
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
        jobs.values().stream().filter(j -> j.status() == JobStatus.RUNNING).forEach(this::cancel);
        long deadline = System.nanoTime() + grace.toNanos();
        for (Thread t : workers) {
            try {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        encoding.shutdown();
        try {
            encoding.awaitTermination(Math.max(1, (deadline - System.nanoTime()) / 1_000_000), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sweeper.shutdownNow();
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }
}
