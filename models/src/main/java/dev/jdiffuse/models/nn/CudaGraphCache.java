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
 * <p>Calls are serialised on this cache's monitor: a graph's input and output buffers are shared by its replays.
 * The graphs share one memory pool (their temporaries overlap; safe as their replays never overlap and each replay's
 * outputs are cloned). A shape whose capture or replay fails (logged) runs without a graph from then on; after three
 * such shapes, all do.
 */
public final class CudaGraphCache implements AutoCloseable {

    /** Graphs kept per model: one per batch size and image size in use. */
    public static final int MAX_GRAPHS = Integer.getInteger("jdiffuse.cudaGraphs.max", 16);
    private static final int WARMUPS = 2;
    private static final int MAX_FAILURES = 3;
    private static final Logger LOG = LoggerFactory.getLogger(CudaGraphCache.class);

    /** What the cache does with graphs: the native library ({@link CudaGraphNative#JNI}), or a stand-in in tests. */
    interface Graphs {
        /** Warms up and records {@code module.method(args)}; its handle. */
        long captured(long module, String method, long[] args, boolean[] varying, int warmups, long shareWith);

        /** Replays {@code graph} with {@code args}' varying inputs; handles of its outputs' clones. */
        long[] replayed(long graph, long[] args);

        void released(long graph);
    }

    private final String name;
    private final Graphs native_;
    private final java.util.function.BooleanSupplier enabled;
    private final Map<String, Long> graphs = new LinkedHashMap<>(16, 0.75f, true);
    /** Shapes whose capture failed (e.g. out of memory): not tried again. */
    private final Set<String> failed = new HashSet<>();
    private boolean off;
    private long captures;
    private long replays;

    /** @param name what the log calls the model's forward */
    public CudaGraphCache(String name) {
        this(name, CudaGraphNative.JNI, CudaGraphs::available);
    }

    CudaGraphCache(String name, Graphs graphs, java.util.function.BooleanSupplier enabled) {
        this.name = name;
        this.native_ = graphs;
        this.enabled = enabled;
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
    public synchronized long[] call(long module, String method, long[] args, boolean[] varying, String key) {
        if (off || !enabled.getAsBoolean()) {
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
                fail(key, "capture", e);
                return null;
            }
            captures++;
            LOG.info("{}: CUDA graph {} captured in {} ms ({})", name, captures, (System.nanoTime() - t0) / 1_000_000,
                    key);
            graphs.put(key, graph);
            evict();
        }
        try {
            long[] out = native_.replayed(graph, args);
            replays++;
            return out;
        } catch (RuntimeException e) {
            graphs.remove(key);
            native_.released(graph);
            fail(key, "replay", e);
            return null;
        }
    }

    /** The shape runs without a graph from now on; after {@link #MAX_FAILURES} such shapes, every call does. */
    private void fail(String key, String what, RuntimeException e) {
        failed.add(key);
        off = failed.size() >= MAX_FAILURES;
        LOG.warn("{}: CUDA graph {} failed, forwards of {} run without a graph{}: {}", name, what, key,
                off ? " (and from now on all of this model's)" : "", e.getMessage());
    }

    /** How many graphs were captured and replayed (for logs and benchmarks). */
    public synchronized String stats() {
        return captures + " captured, " + replays + " replays, " + graphs.size() + " kept";
    }

    @Override
    public synchronized void close() {
        releaseAll();
        off = true;
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
