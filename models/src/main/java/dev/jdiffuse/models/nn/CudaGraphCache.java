package dev.jdiffuse.models.nn;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One model's CUDA graphs of a scripted method ({@link CudaGraphs}), one per input shape: a call with a shape met
 * before copies its varying inputs into the graph's buffers and replays it; a new shape is captured first (two
 * warm-up calls, then one recorded; a few hundred milliseconds). A graph reads the fixed arguments (the weight list)
 * where they were at capture, so callers pass only the weights as loaded ({@link ScriptWeights.Lease#asLoaded}: every
 * such list holds the same arrays), and the helper refuses a replay whose fixed tensors are not the captured ones (the
 * graph is then released and the call runs without it). The graphs are released when the model's manager closes
 * ({@link #close}); at most {@link #MAX_GRAPHS} are kept, the least recently used released first.
 *
 * <p>Calls are serialised on one lock per device ({@link #DEVICE_LOCKS}): a graph's input and output buffers are
 * shared by its replays, and captures share a stream. A model's graphs share one memory pool (their temporaries
 * overlap; safe as their replays never overlap and each replay's outputs are cloned). A shape whose replay fails
 * (logged) runs without a graph from then on; a failed capture turns graphs off for the process.
 */
public final class CudaGraphCache implements AutoCloseable {

    /** Graphs kept per model (at least one): one per batch size and image size in use. */
    public static final int MAX_GRAPHS = Math.max(1, Integer.getInteger("jdiffuse.cudaGraphs.max", 16));
    private static final int WARMUPS = 2;
    private static final Logger LOG = LoggerFactory.getLogger(CudaGraphCache.class);
    /**
     * The native calls of every cache of one device run under that device's lock: the helper captures on one stream
     * per device with the calling thread's cuBLAS workspace, so one model's capture must not run beside another
     * model's replay on that device (a capture blocks the device's other replays while it runs, at load or when a new
     * batch size first comes). Devices do not wait for each other.
     */
    private static final Map<String, Object> DEVICE_LOCKS = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * Why graphs are off for the whole process, or null: a capture that failed may leave PyTorch's caching allocator
     * in the middle of a capture (a failed capture_end skips its clean-up), so no graph is captured or replayed after
     * one (review of session 15).
     */
    private static final java.util.concurrent.atomic.AtomicReference<String> PROCESS_OFF =
            new java.util.concurrent.atomic.AtomicReference<>();
    private static final java.util.concurrent.atomic.LongAdder CAPTURED = new java.util.concurrent.atomic.LongAdder();
    private static final java.util.concurrent.atomic.LongAdder REPLAYED = new java.util.concurrent.atomic.LongAdder();

    /** Graphs captured in this process, every model (for {@code /metrics}). */
    public static long capturedTotal() {
        return CAPTURED.sum();
    }

    /** Forwards that ran as a graph replay in this process, every model (for {@code /metrics}). */
    public static long replayedTotal() {
        return REPLAYED.sum();
    }

    /** Whether a failed capture turned graphs off for this process. */
    public static boolean offForTheProcess() {
        return PROCESS_OFF.get() != null;
    }

    /** What the cache does with graphs: the native library ({@link CudaGraphNative#JNI}), or a stand-in in tests. */
    interface Graphs {
        /** Warms up and records {@code module.method(args)}; its handle. */
        long captured(long module, String method, long[] args, boolean[] varying, int warmups, long shareWith);

        /** Replays {@code graph} with {@code args}' varying inputs; handles of its outputs' clones. */
        long[] replayed(long graph, long[] args);

        void released(long graph);
    }

    private final String name;
    /** This cache's device's lock ({@link #DEVICE_LOCKS}). */
    private final Object lock;
    private final Graphs native_;
    private final java.util.function.BooleanSupplier enabled;
    private final java.util.concurrent.atomic.AtomicReference<String> processOff;
    private final Map<String, Long> graphs = new LinkedHashMap<>(16, 0.75f, true);
    /** Shapes whose replay failed (e.g. another weight array than at capture): not tried again. */
    private final Set<String> failed = new HashSet<>();
    private boolean closed;
    private long captures;

    /**
     * @param name what the log calls the model's forward
     * @param device the device the model's weights are on (e.g. {@code gpu(0)})
     */
    public CudaGraphCache(String name, String device) {
        this(name, device, CudaGraphNative.JNI, CudaGraphs::available, PROCESS_OFF);
    }

    /** @param processOff why graphs are off for every cache sharing it (null: not off) */
    CudaGraphCache(String name, String device, Graphs graphs, java.util.function.BooleanSupplier enabled,
            java.util.concurrent.atomic.AtomicReference<String> processOff) {
        this.name = name;
        this.lock = DEVICE_LOCKS.computeIfAbsent(device, d -> new Object());
        this.native_ = graphs;
        this.enabled = enabled;
        this.processOff = processOff;
    }

    /**
     * Runs {@code module.method(args)} as a graph replay.
     *
     * @param module the TorchScript module's handle ({@code PtSymbolBlock.getHandle()})
     * @param args the arguments' IValue handles
     * @param varying per argument, whether it changes between calls (a tensor or a list of tensors, copied in before
     *     each replay); the others are read where they were at capture (the weight list)
     * @param key the shapes of the varying arguments (and whatever else selects a different graph)
     * @return tensor handles of the method's outputs (the caller owns them), or null when graphs are off here or for
     *     this key (run the method yourself)
     */
    public long[] call(long module, String method, long[] args, boolean[] varying, String key) {
        synchronized (lock) {
            return callLocked(module, method, args, varying, key);
        }
    }

    private long[] callLocked(long module, String method, long[] args, boolean[] varying, String key) {
        if (closed || processOff.get() != null || !enabled.getAsBoolean()) {
            return null;
        }
        Long graph = graphs.get(key);
        if (graph == null) {
            if (failed.contains(key)) {
                return null;
            }
            long t0 = System.nanoTime();
            long shareWith = graphs.isEmpty() ? 0 : graphs.values().iterator().next();
            try {
                graph = ScriptModules.unoptimised(() -> native_.captured(module, method, args, varying, WARMUPS,
                        shareWith));
            } catch (RuntimeException e) {
                processOff.compareAndSet(null, name + " " + key + ": " + e.getMessage());
                LOG.error("{}: CUDA graph capture failed for {}; CUDA graphs are off from now on, for every model "
                        + "(forwards run as one TorchScript call each): {}", name, key, e.getMessage());
                return null;
            }
            captures++;
            CAPTURED.increment();
            LOG.info("{}: CUDA graph {} captured in {} ms ({})", name, captures, (System.nanoTime() - t0) / 1_000_000,
                    key);
            graphs.put(key, graph);
            evict();
        }
        try {
            long[] out = native_.replayed(graph, args);
            REPLAYED.increment();
            return out;
        } catch (RuntimeException e) {
            graphs.remove(key);
            native_.released(graph);
            failed.add(key);
            LOG.warn("{}: CUDA graph replay failed, forwards of {} run without a graph from now on: {}", name, key,
                    e.getMessage());
            return null;
        }
    }

    @Override
    public void close() {
        synchronized (lock) {
            releaseAll();
            closed = true;
        }
    }

    private void evict() {
        Iterator<Map.Entry<String, Long>> it = graphs.entrySet().iterator();
        while (graphs.size() > MAX_GRAPHS && it.hasNext()) {
            native_.released(it.next().getValue());
            it.remove();
        }
    }

    private void releaseAll() {
        graphs.values().forEach(native_::released);
        graphs.clear();
        failed.clear();
    }
}
