package dev.jdiffuse.samplers.batching;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching behind the {@link Network} seam: the network calls of several jobs on one model, each running
 * its own sampler on its own thread, are concatenated along the batch axis (one timestep per row) and evaluated in
 * ONE forward, whose output is split back to the callers. Samplers, prediction adapters and guidance are unchanged:
 * they see a {@code Network} that happens to be shared.
 *
 * <p>A job takes part through a {@link Lane} ({@link #join}), bound to its thread. A lane counts as expected from its
 * first network call until {@link Lane#leave} (its last step done), {@link Lane#cancel} or {@link Lane#close}. Calls
 * gather while the device is shared: a forward starts when every expected lane whose calls fit with the oldest
 * pending one has a call pending, when the forward is full ({@link #configure} {@code maxImages}), or when the
 * gathering window has passed since the oldest call arrived (or since the last forward ended, if later). A job alone
 * therefore never waits, and its forward is the network's own call on its own arrays, exactly as without batching.
 * Calls whose conditioning has no {@link Conditioning#rowLayout}, calls from a thread without a lane, and all calls
 * to a network without {@link Network#timestepPerRow} go straight to the network.
 *
 * <p>Compatible: equal latent shape without the batch axis, equal dtype, equal conditioning layout. Whoever finds a
 * forward ready hands it to the batcher's own forward thread and waits with the other callers. One long-lived thread
 * runs every forward of joined jobs because PyTorch keeps per-thread state whose first use is slow: measured on an
 * H200 (SD 1.5, {@code BatchingBench}), a job's first forwards on a fresh thread cost about 0.4 s more than on a
 * thread that ran them before, and 16 jobs each leading forwards on their own fresh threads took 2x the time of
 * the same forwards on one thread. The thread is made by {@code threadSetup} (e.g. to switch autograd off, which
 * PyTorch keeps per thread) and lives until {@link #close}: the state it keeps includes PyTorch's cuDNN execution
 * plans, which are cached per thread ({@code thread_local} in ATen's Conv_v8.cpp), so a new thread would pay each
 * shape's first-use cost again (0.5-1.2 s per batch size for SD 1.5 on an H200). The joined jobs' decoding
 * ({@link #gatherer}) runs on the same thread for the same reason, and a warm-up that joins a lane warms both. Memory: the concatenated input and every intermediate live
 * in a sub-manager of the first caller's step manager, closed after the forward; each caller's slice of the output
 * moves to its own input's manager. The concatenated conditioning is kept for the next forward of the same callers
 * (text-context projections are then reused, as a lone job reuses its own) in a manager of its own, closed when the
 * callers change or the last lane closes.
 *
 * <p>After their steps, the jobs' decoding goes through the batcher's {@link #gatherer}, which reads the lanes' state
 * (left, in a call, the last forward that served them, the steps they reported) under the same lock to tell which
 * jobs finish together.
 */
public final class StepBatcher implements Network {

    /** Told of each forward of joined jobs: how many jobs, their images, and the network's rows. */
    @FunctionalInterface
    public interface Observer {
        Observer NONE = (jobs, images, rows) -> { };

        void forwarded(int jobs, int images, int rows);
    }

    /**
     * Diagnosis, off by default: {@code -Djdiffuse.trace.forwards=true} prints one JSON line per forward of joined
     * jobs on stderr (when it started, how long its oldest call waited, how long the call took on the host, jobs,
     * rows); {@code -Djdiffuse.trace.sync=true} also waits for the device after each forward, so that the time is the
     * device's (this serialises host and device: for finding where time goes, not for serving).
     */
    private static final boolean TRACE = Boolean.getBoolean("jdiffuse.trace.forwards");
    private static final boolean TRACE_SYNC = TRACE && Boolean.getBoolean("jdiffuse.trace.sync");
    private static final long TRACE_ORIGIN = System.nanoTime();
    private static final ThreadLocal<Lane> CURRENT = new ThreadLocal<>();
    private static final AtomicInteger THREADS = new AtomicInteger();

    /** The one thread that runs the forwards of joined jobs (see the class comment for why). */
    private final ExecutorService forwards;

    private final Network network;
    /** Guards the lanes' state, here and in {@link #gatherer}. */
    final ReentrantLock lock = new ReentrantLock();
    /** Signalled whenever a lane's state or a pending call changes. */
    final Condition changed = lock.newCondition();
    final Set<Lane> lanes = new LinkedHashSet<>();
    private final List<Call> pending = new ArrayList<>();
    private final RowGatherer gatherer = new RowGatherer(this);
    private final StartGatherer starts = new StartGatherer(this);
    private boolean busy;
    /** When the last forward of joined jobs ended (or the batcher was made); guarded by the lock. */
    long idleSince = System.nanoTime();
    /** Forwards of joined jobs so far; each lane records the number of the last one that served it. */
    private long forwardCount;
    volatile int maxImages = Integer.MAX_VALUE;
    volatile long windowNanos = TimeUnit.MILLISECONDS.toNanos(20);
    private volatile Observer observer = Observer.NONE;
    /**
     * Whether a lone job's forward (one lane, one call) runs on the job's own thread instead of being handed to the
     * forward thread and back: two thread hand-offs per step fewer, which is host time on the single-image path
     * (issue 13: 1-6 ms a step beyond the forward on the H200 hosts). Off by default until measured there; the
     * job threads of the server are long-lived and set up for inference at start ({@code InferenceThreads.warm}),
     * which is what the one forward thread exists for. {@code -Djdiffuse.batcher.inline=true} or
     * {@link #inlineLoneForwards}.
     */
    private volatile boolean inlineLone = Boolean.getBoolean("jdiffuse.batcher.inline");
    /** Only the thread running a forward (busy) touches it, and {@link #dropCache} once no lane is left. */
    private CombinedConditioning cache;

    public StepBatcher(Network network) {
        this(network, () -> { });
    }

    /**
     * @param threadSetup run first on the forward thread (each time one is started): per-thread engine settings
     */
    public StepBatcher(Network network, Runnable threadSetup) {
        this.network = network;
        // one thread for the batcher's life, never timed out: its per-thread engine state is what makes it fast
        this.forwards = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(() -> {
                threadSetup.run();
                r.run();
            }, "jdiffuse-forward-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** Ends the forward thread once its queued work is done (the model is unloaded); later forwards fail. */
    public void close() {
        forwards.shutdown();
    }

    /**
     * A joined job's other device work, where its forwards run: on the forward thread when the calling thread has a
     * lane of this batcher, else right here. For work made of convolutions (VAE encoding for image-to-image, a
     * decode outside the {@link #gatherer}): PyTorch caches cuDNN's plans per thread, so on the job threads each
     * would pay every new shape's first use again (0.4-1.2 s on an H200), on the forward thread once (and a warm-up
     * can reach it).
     */
    public <T> T whereForwardsRun(java.util.function.Supplier<T> work) {
        Lane lane = CURRENT.get();
        if (lane == null || lane.batcher != this) {
            return work.get();
        }
        return onForwardThread(work);
    }

    /**
     * {@link #whereForwardsRun} of the batcher the current thread's job has joined, or {@code work} right here when it
     * has joined none. For device work a job does before its first step that has no model of its own to ask (text
     * encoding): on the GPU, each job thread launching kernels while the forward thread keeps the device's queue full
     * waits for queue space at every launch, so 16 jobs starting together took up to 0.4 s each to encode their
     * prompts and joined the shared forwards over 8 steps (H200, session 9). On the forward thread the launches come
     * between two forwards, in order.
     */
    public static <T> T whereCurrentLaneForwardsRun(java.util.function.Supplier<T> work) {
        Lane lane = CURRENT.get();
        return lane == null ? work.get() : lane.batcher.onForwardThread(work);
    }

    /**
     * Where the joined jobs' row-wise device work before their first step (text encoding) is gathered: the calls of
     * jobs starting together run as one, on the forward thread.
     */
    public StartGatherer starts() {
        return starts;
    }

    /**
     * {@link StartGatherer#apply} of the batcher the current thread's job has joined, or {@code rowwise} right here
     * when it has joined none.
     */
    public static NDList startWork(NDArray rows, Object function,
            java.util.function.Function<NDArray, NDList> rowwise) {
        Lane lane = CURRENT.get();
        return lane == null ? rowwise.apply(rows) : lane.batcher.starts.apply(rows, function, rowwise);
    }

    /**
     * Runs {@code work} on the forward thread and waits for it whatever happens (an interrupt is kept for later);
     * what {@code work} throws is thrown here as it was.
     */
    <T> T onForwardThread(java.util.function.Supplier<T> work) {
        Future<T> f = forwards.submit(work::get);
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException r) {
                        throw r;
                    }
                    if (e.getCause() instanceof Error err) {
                        throw err;
                    }
                    throw new IllegalStateException("the forward thread failed", e.getCause());
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Both settings bound the {@link #gatherer} too: the rows of one gathered call (the jobs' images), and its wait.
     *
     * @param maxImages most images (the jobs' own batch rows, before guidance doubles them) in one forward; a single
     *     job's call always runs, whatever its size
     * @param window longest wait for the other expected jobs' calls once one is pending
     */
    public void configure(int maxImages, Duration window) {
        if (maxImages < 1 || window.isNegative()) {
            throw new IllegalArgumentException("maxImages must be >= 1 and the window not negative");
        }
        this.maxImages = maxImages;
        this.windowNanos = window.toNanos();
    }

    /** See {@link #inlineLone}: a lone job's forwards on its own thread (true) or on the forward thread. */
    public void inlineLoneForwards(boolean inline) {
        inlineLone = inline;
    }

    public void observe(Observer o) {
        observer = o == null ? Observer.NONE : o;
    }

    /**
     * Where the joined jobs' work after their last step (VAE decoding) is gathered: the calls of jobs that finish
     * together run as one.
     */
    public RowGatherer gatherer() {
        return gatherer;
    }

    /** The current thread's lane, or null. */
    static Lane current() {
        return CURRENT.get();
    }

    /**
     * The current thread's job joins: until the lane is closed (on this thread), its calls through this batcher may
     * share forwards with other lanes' calls.
     *
     * @param images the job's own batch size (what {@code maxImages} counts)
     */
    public Lane join(int images) {
        if (CURRENT.get() != null) {
            throw new IllegalStateException("this thread already runs a job in a lane");
        }
        Lane lane = new Lane(this, Math.max(1, images));
        lock.lock();
        try {
            lanes.add(lane);
        } finally {
            lock.unlock();
        }
        CURRENT.set(lane);
        return lane;
    }

    @Override
    public boolean timestepPerRow() {
        return network.timestepPerRow();
    }

    @Override
    public NDArray forward(NDArray scaledInput, double[] timesteps, Conditioning conditioning) {
        return network.forward(scaledInput, timesteps, conditioning);
    }

    @Override
    public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
        Lane lane = CURRENT.get();
        Object layout = conditioning.rowLayout();
        if (lane == null || lane.batcher != this || layout == null || !network.timestepPerRow()) {
            return network.forward(x, timestep, conditioning);
        }
        return submit(new Call(lane, x, timestep, conditioning, RowsKey.of(x, layout)));
    }

    private NDArray submit(Call call) {
        Lane lane = call.lane;
        boolean interrupted = false;
        lock.lock();
        try {
            if (lane.cancelled) {
                throw new CancellationException("cancelled");
            }
            lane.expected = true;
            lane.inCall = true;
            lane.lastKey = call.key;
            pending.add(call);
            changed.signalAll();
            while (!call.done) {
                if (lane.cancelled && pending.remove(call)) {
                    changed.signalAll();
                    throw new CancellationException("cancelled");
                }
                if (interrupted && pending.remove(call)) {
                    changed.signalAll();
                    throw new CancellationException("interrupted");
                }
                long wait = busy ? Long.MAX_VALUE : untilReady(System.nanoTime());
                if (wait <= 0) {
                    lead();
                    continue;
                }
                try {
                    if (wait == Long.MAX_VALUE) {
                        changed.await();
                    } else {
                        changed.awaitNanos(wait);
                    }
                } catch (InterruptedException e) {
                    interrupted = true; // a call already in a forward is waited for: its output lands in our memory
                }
            }
        } finally {
            lane.inCall = false;
            lock.unlock();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        return call.result();
    }

    /**
     * Nanoseconds until the oldest pending call's forward should start; at most 0 when it should start now. Waited
     * for, within the window: expected lanes whose last call had this key and have none pending, unless their reports
     * say that call was their last step's; and, while every
     * call of the group is its job's first, lanes that joined at most a window before the oldest call arrived (or
     * since) and have not called yet (jobs starting together: a
     * burst of users whose prompts are being encoded one after another would otherwise join the shared forwards
     * over several steps, the first ones running ahead in small forwards and finishing, and decoding, apart).
     */
    private long untilReady(long now) {
        if (pending.isEmpty()) {
            return Long.MAX_VALUE;
        }
        List<Call> group = group();
        int images = group.stream().mapToInt(c -> c.lane.images).sum();
        RowsKey key = group.get(0).key;
        boolean full = pending.stream().anyMatch(c -> !group.contains(c) && c.key.equals(key));
        if (full || images >= maxImages) {
            return 0;
        }
        boolean firstCalls = group.stream().allMatch(c -> c.lane.lastForward == 0);
        for (Lane l : lanes) {
            if (group.stream().anyMatch(c -> c.lane == l)) {
                continue;
            }
            // a job whose reports say its last forward is done makes no more calls (it is about to leave): at the
            // end of a burst a late job's last forward waited the whole window for the others' leaving (H100,
            // session 13: 20 ms)
            boolean runningAlike = l.expected && key.equals(l.lastKey) && l.stepsLeftAfterLastForward() != 0;
            // starting with the group's head: joined at most a window before it called (a job that joined long ago
            // and has not called yet, e.g. waiting for a LoRA merge, is not waited for)
            boolean starting = firstCalls && l.lastKey == null && !l.left && !l.cancelled
                    && l.joinedAt - group.get(0).arrived >= -windowNanos;
            if (runningAlike || starting) {
                long start = Math.max(group.get(0).arrived, idleSince);
                return start + windowNanos - now;
            }
        }
        return 0;
    }

    /** The oldest pending call and the later ones of its key, in arrival order, as many as fit. */
    private List<Call> group() {
        Call head = pending.get(0);
        List<Call> group = new ArrayList<>();
        group.add(head);
        int images = head.lane.images;
        for (int i = 1; i < pending.size(); i++) {
            Call c = pending.get(i);
            if (c.key.equals(head.key) && images + c.lane.images <= maxImages) {
                group.add(c);
                images += c.lane.images;
            }
        }
        return group;
    }

    /**
     * Runs the ready group on the forward thread while this one waits, with the lock released during the forward.
     * Holds the lock on entry/exit. The group is taken when the forward thread starts the forward, not when this
     * caller found it ready: the thread may still be busy with work queued before (other jobs' prompt encodings,
     * decodes), and the calls that arrive meanwhile then ride along instead of waiting a whole forward. A lone job
     * on its own thread ({@link #inlineLone}) takes it at once.
     */
    private void lead() {
        busy = true;
        boolean inline = inlineLone && lanes.size() == 1 && pending.size() == 1 && !pending.get(0).lane.pinned;
        List<List<Call>> taken = new ArrayList<>(1);
        if (inline) {
            taken.add(take());
        }
        lock.unlock();
        try {
            if (inline) {
                run(taken.get(0)); // records a failure in the call, as on the forward thread
            } else {
                onForwardThread(() -> {
                    List<Call> group;
                    lock.lock();
                    try {
                        group = take();
                        taken.add(group);
                    } finally {
                        lock.unlock();
                    }
                    if (!group.isEmpty()) {
                        run(group);
                    }
                    return null;
                });
            }
        } finally {
            lock.lock();
            busy = false;
            idleSince = System.nanoTime();
            for (List<Call> group : taken) {
                for (Call c : group) {
                    c.done = true;
                    c.lane.inCall = false; // now, not when its thread wakes: the gatherer reads it meanwhile
                }
            }
            changed.signalAll();
        }
    }

    /** Takes the group of the oldest pending call out of the queue as the next forward's (lock held); may be empty. */
    private List<Call> take() {
        if (pending.isEmpty()) {
            return List.of(); // every call that was ready has been cancelled since
        }
        List<Call> group = group();
        pending.removeAll(group);
        forwardCount++;
        for (Call c : group) {
            c.lane.previousForward = c.lane.lastForward;
            c.lane.lastForward = forwardCount;
            c.lane.forwardsSinceReport++;
        }
        return group;
    }

    private void run(List<Call> group) {
        long started = System.nanoTime();
        try {
            if (group.size() == 1) {
                Call c = group.get(0);
                c.output = network.forward(c.x, c.timestep, c.conditioning);
            } else {
                runTogether(group);
            }
            int images = group.stream().mapToInt(c -> c.lane.images).sum();
            int rows = group.stream().mapToInt(c -> (int) c.x.getShape().get(0)).sum();
            observer.forwarded(group.size(), images, rows);
            if (TRACE) {
                trace(group, started, rows);
            }
        } catch (RuntimeException | Error e) {
            for (Call c : group) {
                c.error = e;
            }
        }
    }

    private static void trace(List<Call> group, long started, int rows) {
        if (TRACE_SYNC) {
            NDArray first = group.get(0).output;
            first.get(new NDIndex("0")).sum().toType(DataType.FLOAT32, false).getFloat(); // waits for the device
        }
        long end = System.nanoTime();
        long oldest = group.stream().mapToLong(c -> c.arrived).min().orElse(started);
        System.err.printf(java.util.Locale.ROOT, "{\"trace\":\"forward\",\"at_ms\":%.2f,\"waited_ms\":%.2f,"
                + "\"ms\":%.2f,\"synced\":%b,\"jobs\":%d,\"rows\":%d}%n", (started - TRACE_ORIGIN) / 1e6,
                (started - oldest) / 1e6, (end - started) / 1e6, TRACE_SYNC, group.size(), rows);
    }

    private void runTogether(List<Call> group) {
        NDManager owner = group.get(0).x.getManager();
        try (NDManager forward = owner.newSubManager()) {
            NDList inputs = new NDList();
            int rows = 0;
            for (Call c : group) {
                inputs.add(c.x);
                rows += (int) c.x.getShape().get(0);
            }
            double[] timesteps = new double[rows];
            int at = 0;
            for (Call c : group) {
                int n = (int) c.x.getShape().get(0);
                java.util.Arrays.fill(timesteps, at, at + n, c.timestep);
                at += n;
            }
            NDArray x = NDArrays.concat(inputs, 0);
            x.attach(forward);
            NDArray out = network.forward(x, timesteps, combined(group));
            out.attach(forward);
            at = 0;
            for (Call c : group) {
                int n = (int) c.x.getShape().get(0);
                NDArray part = out.get(new NDIndex("{}:{}", at, at + n));
                part.attach(c.x.getManager());
                c.output = part;
                at += n;
            }
        }
    }

    private Conditioning combined(List<Call> group) {
        List<Conditioning> parts = new ArrayList<>(group.size());
        for (Call c : group) {
            parts.add(c.conditioning);
        }
        if (cache != null && cache.matches(parts)) {
            return cache.conditioning();
        }
        dropCache();
        NDArray any = group.get(0).x;
        NDManager manager = NDManager.newBaseManager(any.getDevice(), any.getManager().getEngine().getEngineName());
        try {
            Conditioning c = parts.get(0).concatRows(parts.subList(1, parts.size()), manager);
            cache = new CombinedConditioning(parts, c, manager);
            return c;
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    private void dropCache() {
        if (cache != null) {
            cache.manager().close();
            cache = null;
        }
    }

    void left(Lane lane, boolean closing) {
        lock.lock();
        try {
            lane.expected = false;
            lane.left = true;
            if (closing) {
                lanes.remove(lane);
                if (lanes.isEmpty() && !busy) {
                    dropCache();
                }
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (closing && CURRENT.get() == lane) {
            CURRENT.remove();
        }
    }

    void cancelled(Lane lane) {
        lock.lock();
        try {
            lane.cancelled = true;
            lane.expected = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Jobs currently joined (for tests and gauges). */
    public int lanes() {
        lock.lock();
        try {
            return lanes.size();
        } finally {
            lock.unlock();
        }
    }

    /** Calls waiting for a forward now (for tests and gauges). */
    public int pendingCalls() {
        lock.lock();
        try {
            return pending.size();
        } finally {
            lock.unlock();
        }
    }

    /** What must be equal for calls to share a forward. */
    record RowsKey(List<Long> sampleShape, DataType dtype, Object layout) {
        static RowsKey of(NDArray x, Object layout) {
            long[] s = x.getShape().getShape();
            List<Long> rest = new ArrayList<>();
            for (int i = 1; i < s.length; i++) {
                rest.add(s[i]);
            }
            return new RowsKey(List.copyOf(rest), x.getDataType(), layout);
        }
    }

    /** One network call waiting for, or served by, a forward. Fields after construction are guarded by the lock. */
    private static final class Call {
        final Lane lane;
        final NDArray x;
        final double timestep;
        final Conditioning conditioning;
        final RowsKey key;
        final long arrived = System.nanoTime();
        boolean done;
        NDArray output;
        Throwable error;

        Call(Lane lane, NDArray x, double timestep, Conditioning conditioning, RowsKey key) {
            this.lane = lane;
            this.x = x;
            this.timestep = timestep;
            this.conditioning = conditioning;
            this.key = key;
        }

        NDArray result() {
            if (error instanceof RuntimeException e) {
                throw e;
            }
            if (error instanceof Error e) {
                throw e;
            }
            return output;
        }
    }

    /** The concatenated conditioning of one sequence of callers (compared by identity) and the manager owning it. */
    private record CombinedConditioning(List<Conditioning> parts, Conditioning conditioning, NDManager manager) {
        boolean matches(List<Conditioning> other) {
            if (other.size() != parts.size()) {
                return false;
            }
            Iterator<Conditioning> a = parts.iterator();
            for (Conditioning b : other) {
                if (a.next() != b) {
                    return false;
                }
            }
            return true;
        }
    }
}
