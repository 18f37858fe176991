package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.LaneListener;
import dev.jdiffuse.models.pipeline.PhaseTrace;
import dev.jdiffuse.models.pipeline.Preview;
import dev.jdiffuse.models.pipeline.EngineFailures;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
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
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded FIFO of jobs served by worker threads, one set per device: a job starts on the device {@link DeviceRouter}
 * picks for it (the least-loaded device holding its model, else the least-loaded one) when its images fit in that
 * device's image budget ({@code workerCount}: images of the jobs running at once there; a larger job runs alone), so
 * with a budget of 1 each device runs one job at a time. Per device, jobs start in queue order (a job that does not
 * fit on its device yet holds back the later ones bound there, not those bound elsewhere); a started job never moves.
 * Jobs running together on one model join its {@link StepBatcher} and share denoiser forwards. PNG
 * encoding runs on its own threads after the job's images left the budget, so the next job starts meanwhile. Submissions beyond {@code capacity} waiting jobs
 * fail at once with {@link QueueFullException}. Every accepted job reaches exactly one terminal state; a failure
 * (exception, out of memory, NaN reported by the pipeline) ends that job alone and the worker takes the next.
 * Cancellation of a queued job is immediate; a running one stops at its next step boundary (the listener throws
 * {@link CancellationException}, the pipeline frees its memory and rethrows). Finished jobs are kept for the TTL and
 * then forgotten, with their images. With a {@link ModelRegistry} ({@link #useModels}) a job whose model is not loaded
 * is {@link JobStatus#LOADING} while the worker loads it, and every job pins its model while it runs.
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
    private volatile ModelRegistry models;
    private final JobOutcomes outcomes;
    private final ResultEncoder encoder;
    private final Clock clock;
    private final ConcurrentHashMap<String, Job> jobs = new ConcurrentHashMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private final List<Thread> workers = new ArrayList<>();
    private final int imageBudget;
    /** The devices, by index (the model registry's order); their counts are guarded by {@link #lock}. */
    private final List<Device> devices = new ArrayList<>();
    private final ConcurrentHashMap<Job, Lane> lanes = new ConcurrentHashMap<>();
    /** Sets up a model's batcher, given its device's label, when a job first uses it (models load lazily). */
    private volatile java.util.function.BiConsumer<String, StepBatcher> batcherSetup = (d, b) -> { };
    private volatile java.util.function.Consumer<String> workerSetup = d -> { };
    private final Set<StepBatcher> batchersSetUp = ConcurrentHashMap.newKeySet();
    private final ExecutorService encoding;
    private final ScheduledExecutorService sweeper;
    private volatile boolean open = true;
    /** The first device failure (a CUDA error broke a device for this process), or null ({@link #deviceFailure}). */
    private final java.util.concurrent.atomic.AtomicReference<String> deviceFailure =
            new java.util.concurrent.atomic.AtomicReference<>();
    /** Exponentially weighted mean run time, the Retry-After estimate before any drain was measured. */
    private volatile double meanRunSeconds = 5.0;
    private final DrainRate drain = new DrainRate();
    private volatile JobStore store = JobStore.NONE;
    private final List<java.util.function.Consumer<Job>> endListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Futures of jobs someone waits on (a long poll, a synchronous route), completed as the job ends. */
    private final Map<String, CompletableFuture<Job>> endWaits = new ConcurrentHashMap<>();
    private final List<java.util.function.Consumer<Job>> acceptListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile long resultBudgetBytes = Long.MAX_VALUE;
    private volatile Duration maxRun;
    /** How long a job may wait unstarted ({@link #maxQueueWait}), or null for no limit. */
    private volatile Duration maxQueueWait;
    /** Finished jobs holding PNGs in memory, oldest first, and their bytes: the result budget's ledger. */
    private final ArrayDeque<Job> holding = new ArrayDeque<>();
    private long heldBytes;

    /** What runs on one device now; guarded by the manager's lock. */
    private static final class Device {
        final int index;
        final String label;
        /** Images of the jobs running (or loading their model) here, how many jobs, and whether one runs alone. */
        int runningImages;
        int runningJobs;
        boolean runningAlone;
        /** The models of the jobs running here, with their counts: held here from the moment a job is taken. */
        final java.util.Map<String, Integer> runningModels = new java.util.HashMap<>();
        /** Why this device can run nothing more in this process (a sticky CUDA error), or null while it works. */
        volatile String failure;

        Device(int index, String label) {
            this.index = index;
            this.label = label;
        }
    }

    /** One device ({@link ModelRegistry#PRELOADED_DEVICE}). */
    public JobManager(int capacity, Duration ttl, int workerCount, JobOutcomes outcomes, ResultEncoder encoder,
            Clock clock) {
        this(capacity, ttl, workerCount, List.of(ModelRegistry.PRELOADED_DEVICE), outcomes, encoder, clock);
    }

    /**
     * @param workerCount the image budget of each device (and its worker threads)
     * @param deviceLabels the devices, as the model registry labels them ({@link ModelRegistry#devices})
     */
    public JobManager(int capacity, Duration ttl, int workerCount, List<String> deviceLabels, JobOutcomes outcomes,
            ResultEncoder encoder, Clock clock) {
        if (capacity < 1 || workerCount < 1 || deviceLabels.isEmpty()) {
            throw new IllegalArgumentException("capacity and workerCount must be >= 1, with at least one device");
        }
        this.capacity = capacity;
        this.ttl = ttl;
        this.outcomes = outcomes;
        this.encoder = encoder;
        this.clock = clock;
        this.imageBudget = workerCount;
        // jobs that share forwards finish together: up to half the cores encode their PNGs at once (one job's PNG
        // and files took 33-50 ms on the H200 host; with 2 threads, 16 of them would wait in line)
        int encoders = Math.min(workerCount + 1, Math.max(2, Runtime.getRuntime().availableProcessors() / 2));
        this.encoding = Executors.newFixedThreadPool(deviceLabels.size() * encoders, r -> {
            Thread t = new Thread(r, "jdiffuse-png");
            t.setDaemon(true);
            return t;
        });
        for (String label : deviceLabels) {
            Device device = new Device(devices.size(), label);
            devices.add(device);
            for (int i = 0; i < workerCount; i++) {
                Thread t = new Thread(() -> workLoop(device), deviceLabels.size() == 1 ? "jdiffuse-worker-" + i
                        : "jdiffuse-worker-" + label + "-" + i);
                t.setDaemon(true);
                workers.add(t);
            }
        }
        sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "jdiffuse-job-sweeper");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * How each model's batcher is set up (forward size, window, metrics), given the label of the device its model is
     * loaded on, when a job first joins it.
     */
    public void onBatcher(java.util.function.BiConsumer<String, StepBatcher> setup) {
        batcherSetup = setup;
    }

    /**
     * What each worker thread runs first, given its device's label (before {@link #start}): per-thread engine state
     * made before the first job rather than inside it.
     */
    public void onWorkerStart(java.util.function.Consumer<String> setup) {
        workerSetup = setup;
    }

    /** The labels of the devices, by index. */
    public List<String> devices() {
        return devices.stream().map(d -> d.label).toList();
    }

    /** Jobs running (or loading their model) on device {@code index} now. */
    public int runningJobs(int index) {
        lock.lock();
        try {
            return devices.get(index).runningJobs;
        } finally {
            lock.unlock();
        }
    }

    /** Images of the jobs running (or loading their model) on device {@code index} now. */
    public int runningImages(int index) {
        lock.lock();
        try {
            return devices.get(index).runningImages;
        } finally {
            lock.unlock();
        }
    }

    /** Sets the one listener of every job's events (the stream hub, built after this manager) before {@link #start}. */
    public void listen(JobEvents listener) {
        events = listener;
    }

    /** Adds a listener after the one {@link #listen} set (the ComfyUI layer's), before {@link #start}. */
    public void alsoListen(JobEvents listener) {
        events = JobEvents.both(events, listener);
    }

    /** Keeps finished jobs' images and records in {@code s} (before {@link #start}); restores nothing by itself. */
    public void store(JobStore s) {
        store = s;
    }

    /** Calls {@code listener} with every job that ends, after its end is recorded. */
    /**
     * Calls {@code listener} with each accepted job on the submitting thread, before any worker can take it (under
     * the queue's lock: keep it short), so that a caller's own bookkeeping holds the job before it runs.
     */
    public void onAccepted(java.util.function.Consumer<Job> listener) {
        acceptListeners.add(listener);
    }

    public void onEnd(java.util.function.Consumer<Job> listener) {
        endListeners.add(listener);
    }

    /**
     * Completes with {@code job} once it has ended: after its end listeners ran, or at once for a job whose status is
     * already terminal (also one asked for between its final status and its listeners). Waiting costs no polling. One
     * future per job, shared by its waiters: a waiter that gives up must not complete it (copy it, e.g. with
     * {@code thenApply}, before {@code completeOnTimeout}).
     */
    public CompletableFuture<Job> whenEnded(Job job) {
        CompletableFuture<Job> f = endWaits.computeIfAbsent(job.id(), k -> new CompletableFuture<>());
        // ended before the future was registered: end() may have looked for it already
        if (job.status().terminal()) {
            endWaits.remove(job.id());
            f.complete(job);
        }
        return f;
    }

    /**
     * At most {@code bytes} of finished jobs' PNGs stay in memory; beyond it the oldest are dropped from memory
     * (served from their files when an output folder keeps them, else gone).
     */
    public void resultBudget(long bytes) {
        resultBudgetBytes = bytes;
    }

    /**
     * A running job is cancelled (reason {@code deadline}) once it has run {@code limit} (loading its model does not
     * count); null: no deadline.
     */
    public void maxRun(Duration limit) {
        maxRun = limit == null || limit.isZero() ? null : limit;
    }

    /**
     * A queued job is cancelled unstarted (reason {@code expired}) once it has waited {@code limit}: by then its
     * client has usually given up (A1111 and OpenAI clients time out after a minute or two), and running it would
     * only delay the jobs behind it. Null or zero: no limit.
     */
    public void maxQueueWait(Duration limit) {
        maxQueueWait = limit == null || limit.isZero() ? null : limit;
    }

    /**
     * Runs jobs through {@code registry}: the worker loads a job's model on its device when its turn comes and leases
     * it while it runs; models that queued jobs name are the last evicted. Without a registry, jobs run the model they
     * hold. The registry's devices are this manager's, in the same order.
     */
    public void useModels(ModelRegistry registry) {
        if (!registry.devices().equals(devices())) {
            throw new IllegalArgumentException("the registry's devices " + registry.devices() + " are not the job "
                    + "manager's " + devices());
        }
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
        sweeper.scheduleWithFixedDelay(this::enforceDeadlines, 100, 100, TimeUnit.MILLISECONDS);
    }

    /**
     * Cancels running jobs past their deadline (they stop at their next step, or the pipeline's next check) and
     * queued jobs that waited too long.
     */
    private void enforceDeadlines() {
        try {
            expireQueued();
        } catch (RuntimeException e) {
            // a failing listener must not end the scheduled task: both checks would silently stop for good
            LOG.error("expiring queued jobs failed", e);
        }
        Duration limit = maxRun;
        if (limit == null) {
            return;
        }
        long now = System.nanoTime();
        for (Job j : jobs.values()) {
            if (j.status() == JobStatus.RUNNING && j.runningMillis(now) > limit.toMillis()
                    && !j.cancelRequested()) {
                LOG.warn("job {} of {} passed its deadline of {} s; cancelling", j.id(), j.owner(),
                        limit.toSeconds());
                j.requestCancel("deadline");
            }
        }
    }

    /** Cancels the queued jobs that have waited {@link #maxQueueWait} or longer, with reason {@code expired}. */
    private void expireQueued() {
        Duration limit = maxQueueWait;
        if (limit == null) {
            return;
        }
        long now = System.nanoTime();
        List<Job> expired = new ArrayList<>();
        List<Job> moved;
        lock.lock();
        try {
            for (java.util.Iterator<Job> it = queue.iterator(); it.hasNext(); ) {
                Job j = it.next();
                if (j.waitMillis(now) >= limit.toMillis()) {
                    it.remove();
                    expired.add(j);
                }
            }
            moved = expired.isEmpty() ? List.of() : List.copyOf(queue);
        } finally {
            lock.unlock();
        }
        for (Job j : expired) {
            LOG.warn("job {} of {} waited {} s without starting; cancelled (--max-queue-seconds)", j.id(), j.owner(),
                    j.waitMillis(now) / 1000);
            end(j, JobStatus.CANCELLED, null, null, new Job.Error("expired", "waited " + limit.toMillis() / 1000.0
                    + " s in the queue without starting (the server's --max-queue-seconds)"));
        }
        if (!expired.isEmpty()) {
            announcePositions(moved);
        }
    }

    /** Accepts a job of the keyless caller at normal priority ({@link #submit(Submission, String, Priority)}). */
    public Job submit(Submission v) {
        return submit(v, "local", Priority.NORMAL);
    }

    /**
     * Accepts a job or throws {@link QueueFullException}; also refuses (IllegalStateException) after close. A job
     * waits behind the waiting jobs of higher priority classes and ahead of the lower ones; within its class, owners
     * take turns (round robin), each in order of arrival.
     */
    public Job submit(Submission v, String owner, Priority priority) {
        return enqueue(new Job(UUID.randomUUID().toString(), owner, priority, v, clock.instant(), System.nanoTime()));
    }

    /** Accepts a job of the keyless caller for a model that is not loaded yet, at normal priority. */
    public Job submit(PendingSubmission v) {
        return submit(v, "local", Priority.NORMAL);
    }

    /**
     * Accepts a job for a model that is not loaded yet (the worker loads it and resolves the request), queued as
     * {@link #submit(Submission, String, Priority)} queues.
     */
    public Job submit(PendingSubmission v, String owner, Priority priority) {
        return enqueue(new Job(UUID.randomUUID().toString(), owner, priority, v, clock.instant(), System.nanoTime()));
    }

    private Job enqueue(Job job) {
        List<Job> moved;
        int firstMoved;
        String noDevice;
        lock.lock();
        try {
            if (!open) {
                throw new IllegalStateException("the server is shutting down");
            }
            if (queue.size() >= capacity) {
                throw new QueueFullException(capacity, retryAfterSeconds());
            }
            jobs.put(job.id(), job);
            record(job);
            for (var l : acceptListeners) {
                l.accept(job);
            }
            // checked under the lock deviceFailed strands the queue under: a job accepted as the last device broke
            // fails here, not waits for a worker that will never come
            noDevice = noWorkingDevice();
            if (noDevice != null) {
                moved = List.of();
                firstMoved = 0;
            } else {
                int at = insert(job);
                moved = List.copyOf(queue).subList(at + 1, queue.size());
                firstMoved = at + 1;
                notEmpty.signalAll();
            }
        } finally {
            lock.unlock();
        }
        if (noDevice != null) {
            end(job, JobStatus.FAILED, null, null, noWorkingDeviceError(noDevice));
            return job;
        }
        if (!moved.isEmpty()) {
            announcePositions(moved, firstMoved);
        }
        return job;
    }

    /**
     * Puts {@code job} in the queue at its place and returns that place. The queue is ordered by
     * (priority, round): a job's round is how many jobs of its owner wait ahead of it, so within a class the owners
     * take turns (round robin) and one key's many jobs cannot starve another's; with one owner this is first come,
     * first served. Under the lock.
     */
    private int insert(Job job) {
        List<Job> waiting = new ArrayList<>(queue);
        int[] round = new int[waiting.size()];
        java.util.Map<String, Integer> ahead = new java.util.HashMap<>();
        for (int i = 0; i < round.length; i++) {
            round[i] = ahead.merge(waiting.get(i).owner(), 1, Integer::sum) - 1;
        }
        int myRound = ahead.getOrDefault(job.owner(), 0);
        int at = waiting.size();
        while (at > 0 && (waiting.get(at - 1).priority().compareTo(job.priority()) > 0
                || (waiting.get(at - 1).priority() == job.priority() && round[at - 1] > myRound))) {
            at--;
        }
        waiting.add(at, job);
        queue.clear();
        queue.addAll(waiting);
        job.position(at);
        return at;
    }

    /** Jobs of {@code owner} that are queued or running. */
    public int activeCount(String owner) {
        int n = 0;
        for (Job j : jobs.values()) {
            if (!j.status().terminal() && j.owner().equals(owner)) {
                n++;
            }
        }
        return n;
    }

    /** Seconds until the queue has a free slot, from the measured rate at which jobs end ({@link DrainRate}). */
    public long retryAfterSeconds() {
        return drain.secondsFor(1, meanRunSeconds / workers.size(), System.nanoTime());
    }

    /** The job, from memory while it is recent, else from the history (empty when neither has it). */
    public Optional<Job> get(String id) {
        Job j = jobs.get(id);
        if (j != null && expired(j, clock.instant())) {
            jobs.remove(id, j);
            release(j);
            j = null;
        }
        return j != null ? Optional.of(j) : store.find(id);
    }

    /** The newest jobs first (memory and history merged), of {@code owner} (null: everyone's). */
    public List<Job> list(String owner, Instant before, int limit) {
        java.util.Map<String, Job> out = new java.util.LinkedHashMap<>();
        List<Job> recent = new ArrayList<>(jobs.values());
        recent.removeIf(j -> (owner != null && !j.owner().equals(owner)) || (before != null
                && !j.createdAt().isBefore(before)));
        for (Job j : store.list(owner, before, limit)) {
            out.put(j.id(), j);
        }
        for (Job j : recent) {
            out.put(j.id(), j);
        }
        return out.values().stream().sorted(java.util.Comparator.comparing(Job::createdAt).reversed()
                .thenComparing(Job::id)).limit(limit).toList();
    }

    /** PNG {@code n} of a succeeded job, from memory or its file; empty when neither holds it any more. */
    public Optional<byte[]> image(Job job, int n) {
        List<byte[]> held = job.heldImages();
        if (held != null && n < held.size()) {
            return Optional.of(held.get(n));
        }
        List<java.nio.file.Path> files = job.files();
        if (n < files.size()) {
            try {
                return Optional.of(store.read(files.get(n)));
            } catch (java.io.IOException e) {
                LOG.warn("image {} of job {} cannot be read from {}: {}", n, job.id(), files.get(n), e.toString());
            }
        }
        return Optional.empty();
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

    /**
     * The first device failure of this process ("device: message"), or null: a CUDA error that corrupts the device's
     * context (an illegal memory access, a device-side assert, a lost GPU) makes every later call there fail until the
     * process restarts, so the health checks report it and an orchestrator can restart the server.
     */
    public String deviceFailure() {
        return deviceFailure.get();
    }

    /** How many devices a CUDA error broke for this process (the others go on taking jobs). */
    public int failedDevices() {
        return (int) devices.stream().filter(d -> d.failure != null).count();
    }

    /**
     * Why no job can run any more, or null while a device works: every device failed ({@link #deviceFailure}). With
     * several devices, jobs go to the ones that still work until the server restarts.
     */
    public String noWorkingDevice() {
        return devices.stream().allMatch(d -> d.failure != null) ? deviceFailure.get() : null;
    }

    /** False once {@link #close} began: new jobs are refused (503 shutting_down) while running ones drain. */
    public boolean accepting() {
        return open;
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
        // a job that the lane's cancel ended already (it was waiting for a forward or a decoding) is still being
        // cancelled by this request, not one that had ended
        JobStatus now = job.status();
        return now.terminal() && now != JobStatus.CANCELLED ? CancelOutcome.ALREADY_ENDED : CancelOutcome.CANCELLING;
    }

    private void workLoop(Device device) {
        try {
            workerSetup.accept(device.label);
        } catch (RuntimeException e) {
            LOG.warn("worker setup on {} failed: {}", device.label, e.toString());
        }
        while (open) {
            Job job = null;
            List<Job> moved;
            int taken;
            lock.lock();
            try {
                while (open && (job = take(device)) == null) {
                    notEmpty.await();
                }
                if (!open) {
                    return;
                }
                taken = images(job); // kept: a pending job's count is known only once its model loaded
                device.runningImages += taken;
                device.runningJobs++;
                device.runningModels.merge(job.modelName(), 1, Integer::sum);
                device.runningAlone = !batchable(job);
                job.device(device.label);
                moved = List.copyOf(queue);
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.unlock();
            }
            announcePositions(moved);
            try {
                run(job, device);
            } catch (RuntimeException e) {
                LOG.error("unexpected error around job {}", job.id(), e);
            } finally {
                lock.lock();
                try {
                    device.runningImages -= taken;
                    device.runningJobs--;
                    device.runningModels.computeIfPresent(job.modelName(), (m, n) -> n == 1 ? null : n - 1);
                    device.runningAlone = false;
                    notEmpty.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /**
     * Takes the first queued job that {@link DeviceRouter} sends to {@code device}, if it fits there now; null when
     * none is bound there or the first one does not fit yet (the later ones bound there wait behind it). Under the
     * lock.
     */
    private Job take(Device device) {
        if (queue.isEmpty() || device.failure != null) {
            return null;
        }
        ModelRegistry registry = models;
        List<Set<String>> held = new ArrayList<>();
        List<Set<String>> inRegistry = registry != null ? registry.held() : null;
        for (Device d : devices) {
            // a job just taken holds its model there before its worker reaches the registry
            Set<String> names = new java.util.HashSet<>(d.runningModels.keySet());
            if (inRegistry != null) {
                names.addAll(inRegistry.get(d.index));
            }
            held.add(names);
        }
        int[] load = devices.stream().mapToInt(d -> d.runningImages).toArray();
        boolean[] working = new boolean[devices.size()];
        for (Device d : devices) {
            working[d.index] = d.failure == null;
        }
        for (java.util.Iterator<Job> it = queue.iterator(); it.hasNext(); ) {
            Job job = it.next();
            if (DeviceRouter.route(job.modelName(), load, held, working) != device.index) {
                continue;
            }
            if (!fits(device, job)) {
                return null;
            }
            it.remove();
            return job;
        }
        return null;
    }

    /** Wakes the idle workers: which device holds which model changed, so where queued jobs go may have. */
    private void rerouteQueued() {
        lock.lock();
        try {
            notEmpty.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether {@code job} may start on {@code device} now: its images fit beside the jobs running there (a job alone
     * always starts). Only jobs on models that batch across requests run beside others; any other job runs alone.
     */
    private boolean fits(Device device, Job job) {
        return device.runningImages == 0 || (!device.runningAlone && batchable(job)
                && device.runningImages + images(job) <= imageBudget);
    }

    /** A job waiting for its model to load runs alone (nothing is known of its model's batcher yet). */
    private boolean batchable(Job job) {
        Submission s = job.submission();
        return imageBudget > 1 && s != null && s.model().pipeline().stepBatcher() != null;
    }

    private static int images(Job job) {
        Submission s = job.submission();
        return s == null ? 1 : Math.max(1, s.request().batchSize());
    }

    private void announcePositions(List<Job> waiting) {
        announcePositions(waiting, 0);
    }

    /** Announces the positions of {@code waiting}, the first of which has {@code first} jobs ahead. */
    private void announcePositions(List<Job> waiting, int first) {
        for (int i = 0; i < waiting.size(); i++) {
            waiting.get(i).position(first + i);
            events.onPosition(waiting.get(i), first + i);
        }
    }

    private void run(Job job, Device device) {
        long t0 = System.nanoTime();
        ModelRegistry registry = models;
        boolean load = registry != null && registry.loaded(job.modelName(), device.index).isEmpty();
        if (!(load ? job.loading(clock.instant(), t0) : job.start(clock.instant(), t0))) {
            return;
        }
        PhaseTrace.begin();
        record(job);
        events.onStarted(job);
        try (ModelRegistry.Lease lease = registry == null ? null : registry.acquire(job.modelName(), device.index)) {
            if (load) {
                rerouteQueued(); // the load may have evicted a model that queued jobs were bound to
            }
            if (job.cancelRequested()) {
                throw new CancellationException("cancelled");
            }
            Submission work = job.submission();
            boolean resolvedNow = work == null;
            if (resolvedNow) {
                // the checks the API makes for a loaded model (validation, cost): their 400 ends the job
                work = job.pending().resolve().apply(lease.model());
                job.resolved(work);
            }
            if (load) {
                t0 = System.nanoTime();
                job.start(clock.instant(), t0);
            }
            if (resolvedNow || load) {
                record(job);
            }
            if (load) {
                events.onStarted(job);
            }
            // the lease's model: the submission's may have been evicted and loaded again since it was validated
            LoadedModel model = lease == null ? work.model() : lease.model();
            PhaseTrace.mark("start"); // the run's record and events, the model's lease, a resolution
            GenerationResult result = generate(job, device, model, work, listener(job, t0));
            job.generated(System.nanoTime());
            PhaseTrace.mark("return"); // the job's arrays freed, the batcher's lane left
            if (job.cancelRequested()) {
                throw new CancellationException("cancelled");
            }
            if (result == null || result.images().size() != work.request().batchSize()) {
                throw new IllegalStateException("the pipeline returned " + (result == null ? 0
                        : result.images().size()) + " images for a batch of " + work.request().batchSize());
            }
            encoding.execute(() -> encodeAndEnd(job, result));
        } catch (Exception | Error e) {
            failed(job, e);
        } finally {
            PhaseTrace.end(job.id()); // a failed run's phases too, as far as it went
        }
    }

    /**
     * The pipeline's run; where the model batches across requests, inside a lane of its {@link StepBatcher}, left
     * after the last step so that the other jobs do not wait for this one's decoding.
     */
    private GenerationResult generate(Job job, Device device, LoadedModel model, Submission work,
            GenerationListener listener) {
        ImagePipeline pipeline = model.pipeline();
        StepBatcher batcher = imageBudget > 1 ? pipeline.stepBatcher() : null;
        if (batcher == null) {
            return pipeline.generate(work.request(), listener);
        }
        if (batchersSetUp.add(batcher)) {
            batcherSetup.accept(device.label, batcher);
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
            try {
                job.files(store.writeImages(job, pngs));
            } catch (java.io.IOException | RuntimeException e) {
                LOG.error("the images of job {} could not be written to the output folder", job.id(), e);
            }
            end(job, JobStatus.SUCCEEDED, result, pngs, null);
        } catch (RuntimeException | Error e) {
            failed(job, e);
        }
    }

    private void failed(Job job, Throwable t) {
        if (!(t instanceof GenerationException)) {
            GenerationException engine = EngineFailures.classify(t); // an engine error from any pipeline
            t = engine != null ? engine : t;
        }
        try {
            throw t;
        } catch (CancellationException e) {
            String reason = job.cancelReason();
            end(job, JobStatus.CANCELLED, null, null, new Job.Error(reason, (reason.equals("deadline")
                    ? "stopped at its deadline of " + (maxRun == null ? "?" : maxRun.toSeconds()) + " s, "
                    : reason.equals("shutdown") ? "the server shut down while it ran, " : "cancelled while running, ")
                    + (job.totalSteps() == 0 ? "while its model loaded"
                    : "after step " + (job.progress().step() + 1) + " of " + job.totalSteps())));
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
            if (e.kind() == GenerationException.Kind.DEVICE_FAILED) {
                deviceFailed(job.device(), clientMessage(e)); // before the job's end is seen: health agrees with it
            }
            end(job, JobStatus.FAILED, null, null, new Job.Error(e.kind().apiCode(), clientMessage(e)));
        } catch (OutOfMemoryError e) {
            // the job's references are dropped by end(), so the next job starts with the memory this one held
            LOG.error("job {} ran out of memory", job.id(), e);
            end(job, JobStatus.FAILED, null, null, new Job.Error("out_of_memory", "the job ran out of memory; "
                    + "try a smaller size, batch or fewer steps"));
        } catch (Throwable e) {
            LOG.error("job {} failed", job.id(), e);
            end(job, JobStatus.FAILED, null, null, new Job.Error("generation_failed", clientMessage(e)));
        }
    }

    /**
     * {@code label}'s device is broken for this process: it takes no more jobs, queued jobs go to the devices that
     * still work, and once none does, every queued job fails at once (each would fail on a broken device).
     */
    private void deviceFailed(String label, String message) {
        Device broken = devices.stream().filter(d -> d.label.equals(label)).findFirst().orElse(null);
        if (broken == null) {
            return;
        }
        List<Job> stranded = List.of();
        lock.lock();
        try {
            if (broken.failure != null) {
                return;
            }
            // under the lock enqueue checks under: a job is either stranded here or failed by enqueue
            deviceFailure.compareAndSet(null, label + ": " + message);
            broken.failure = message;
            if (noWorkingDevice() != null) {
                stranded = List.copyOf(queue);
                queue.clear();
            }
            notEmpty.signalAll(); // the other devices' workers take what this one would have
        } finally {
            lock.unlock();
        }
        LOG.error("device {} failed: it runs nothing more until the server restarts ({}); /healthz answers 503 from "
                + "now on{}", label, message, noWorkingDevice() == null ? ", other devices take its jobs"
                : ", /readyz too: no device works, " + stranded.size() + " queued job(s) failed");
        Job.Error error = noWorkingDeviceError(label + ": " + message);
        for (Job job : stranded) {
            end(job, JobStatus.FAILED, null, null, error);
        }
    }

    /** The error of a job that no device can run any more ({@code failure}: "device: message"). */
    private static Job.Error noWorkingDeviceError(String failure) {
        return new Job.Error(GenerationException.Kind.DEVICE_FAILED.apiCode(),
                "no device can run jobs until the server restarts (device " + failure + ")");
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
        drain.ended(now);
        hold(job);
        record(job);
        LOG.info("job {} of {} {}{}", job.id(), job.owner(), status.apiName(), error == null ? ""
                : " (" + error.code() + ")");
        try {
            for (var l : endListeners) {
                try {
                    l.accept(job);
                } catch (RuntimeException e) {
                    LOG.error("an end listener failed for job {}", job.id(), e);
                }
            }
        } finally {
            // also after a listener's Error: a blocked A1111 request would otherwise wait forever
            CompletableFuture<Job> waited = endWaits.remove(job.id());
            if (waited != null) {
                waited.complete(job);
            }
        }
        outcomes.ended(job.owner(), status, error == null ? null : error.code(), job.waitMillis(now), run,
                job.progress().step() + 1,
                result == null ? 0 : result.denoiseMillis());
        events.onFinished(job);
    }

    private boolean expired(Job j, Instant now) {
        Instant f = j.outcome().map(Job.Outcome::at).orElse(null);
        return f != null && f.plus(ttl).isBefore(now);
    }

    /** Records the job's state in the history; a failing history is logged and never fails the job. */
    private void record(Job job) {
        try {
            store.save(job);
        } catch (RuntimeException e) {
            LOG.error("job {} could not be recorded in the history: {}", job.id(), e.getMessage());
        }
    }

    /** Puts a finished job's PNGs on the result budget's ledger and drops the oldest beyond the budget. */
    private void hold(Job job) {
        List<byte[]> held = job.heldImages();
        if (held == null) {
            return;
        }
        synchronized (holding) {
            holding.addLast(job);
            heldBytes += held.stream().mapToLong(b -> b.length).sum();
            while (heldBytes > resultBudgetBytes && !holding.isEmpty()) {
                heldBytes -= holding.pollFirst().dropHeldImages();
            }
        }
    }

    /** Forgets an expired job's PNGs. */
    private void release(Job job) {
        synchronized (holding) {
            if (holding.remove(job)) {
                heldBytes -= job.dropHeldImages();
            }
        }
    }

    /** Bytes of finished jobs' PNGs held in memory now. */
    public long heldResultBytes() {
        synchronized (holding) {
            return heldBytes;
        }
    }

    void sweep() {
        Instant now = clock.instant();
        for (Job j : List.copyOf(jobs.values())) {
            if (expired(j, now) && jobs.remove(j.id(), j)) {
                release(j);
            }
        }
    }

    /** Jobs currently remembered (waiting, running, or finished within the TTL). */
    public int size() {
        sweep();
        return jobs.size();
    }

    /**
     * Stops taking jobs at once: waiting jobs are cancelled (reason "shutdown") and recorded so; the running one may
     * finish within {@code grace}, after which it is cancelled (reason "shutdown") at its next step.
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
        // a job waiting for its model's load has not started: it stops once the load returns, not after the grace
        jobs.values().stream().filter(j -> j.status() == JobStatus.LOADING).forEach(j -> j.requestCancel("shutdown"));
        long deadline = System.nanoTime() + grace.toNanos();
        for (Thread t : workers) {
            try {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // the grace is over: what still runs is cancelled (it stops at its next step) and given a moment to
        // record its end
        jobs.values().stream().filter(j -> j.status() == JobStatus.RUNNING || j.status() == JobStatus.LOADING)
                .forEach(j -> j.requestCancel("shutdown"));
        for (Thread t : workers) {
            try {
                t.join(2000);
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
