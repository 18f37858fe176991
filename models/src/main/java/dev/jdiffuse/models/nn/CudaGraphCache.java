package dev.jdiffuse.models.nn;

import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
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
 * outputs are cloned). A shape whose capture fails (logged) runs without a graph; after three such shapes, all do.
 */
public final class CudaGraphCache implements AutoCloseable {

    /** Graphs kept per model: one per batch size and image size in use. */
    public static final int MAX_GRAPHS = Integer.getInteger("jdiffuse.cudaGraphs.max", 16);
    private static final int WARMUPS = 2;
    private static final int MAX_FAILURES = 3;
    private static final Logger LOG = LoggerFactory.getLogger(CudaGraphCache.class);

    private final String name;
    private final Map<String, Long> graphs = new LinkedHashMap<>(16, 0.75f, true);
    /** Shapes whose capture failed (e.g. out of memory): not tried again. */
    private final Set<String> failed = new HashSet<>();
    private boolean off;
    private long captures;
    private long replays;

    /** @param name what the log calls the model's forward */
    public CudaGraphCache(String name) {
        this.name = name;
    }

    /**
     * Runs {@code module.method(args)} as a graph replay.
     *
     * @param varying per argument, whether it changes between calls (a tensor or a list of tensors, copied in before
     *     each replay); the others are read where they were at capture (the weight list)
     * @param key the shapes of the varying arguments (and whatever else selects a different graph)
     * @return the method's output tensors in {@code manager}, or null when graphs are off here (run it yourself)
     */
    public synchronized PtNDArray[] call(PtSymbolBlock module, String method, IValue[] args, boolean[] varying,
            String key, PtNDManager manager) {
        if (off || !CudaGraphs.available()) {
            return null;
        }
        long[] handles = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            handles[i] = args[i].getHandle();
        }
        Long graph = graphs.get(key);
        if (graph == null) {
            if (failed.contains(key)) {
                return null;
            }
            long t0 = System.nanoTime();
            long shareWith = graphs.isEmpty() ? 0 : graphs.values().iterator().next();
            try {
                graph = ScriptModules.unoptimised(() -> CudaGraphNative.capture(module.getHandle(), method, handles,
                        varying, WARMUPS, shareWith));
            } catch (RuntimeException e) {
                failed.add(key);
                off = failed.size() >= MAX_FAILURES;
                LOG.warn("{}: CUDA graph capture failed, forwards of {} run without a graph{}: {}", name, key,
                        off ? " (and from now on all of this model's)" : "", e.getMessage());
                return null;
            }
            captures++;
            LOG.info("{}: CUDA graph {} captured in {} ms ({})", name, captures, (System.nanoTime() - t0) / 1_000_000,
                    key);
            graphs.put(key, graph);
            evict();
        }
        long[] out;
        try {
            out = CudaGraphNative.replay(graph, handles);
        } catch (RuntimeException e) {
            graphs.remove(key);
            CudaGraphNative.release(graph);
            LOG.warn("{}: CUDA graph replay failed ({}), the forward runs without it", name, e.getMessage());
            return null;
        }
        replays++;
        PtNDArray[] result = new PtNDArray[out.length];
        for (int i = 0; i < out.length; i++) {
            result[i] = new PtNDArray(manager, out[i]);
        }
        return result;
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
            CudaGraphNative.release(it.next().getValue());
            it.remove();
        }
    }

    private void releaseAll() {
        graphs.values().forEach(CudaGraphNative::release);
        graphs.clear();
        failed.clear();
    }
}
