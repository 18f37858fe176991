package dev.jdiffuse.models.nn;

/**
 * The entry points of {@code native/cudagraphs/jdiffuse_cudagraphs.cc}; loaded by {@link CudaGraphs}. Handles are
 * DJL's: a module handle is its {@code torch::jit::script::Module*}, an argument an {@code IValue*}, a result a
 * {@code torch::Tensor*} that {@code PtNDArray} adopts.
 */
final class CudaGraphNative implements CudaGraphCache.Graphs {

    /** The library's functions, for {@link CudaGraphCache}. */
    static final CudaGraphCache.Graphs JNI = new CudaGraphNative();

    private CudaGraphNative() {
    }

    @Override
    public long captured(long module, String method, long[] args, boolean[] varying, int warmups, long shareWith) {
        return capture(module, method, args, varying, warmups, shareWith);
    }

    @Override
    public long[] replayed(long graph, long[] args) {
        return replay(graph, args);
    }

    @Override
    public void released(long graph) {
        release(graph);
    }

    /**
     * Warms {@code module.method(args)} up and records one call; varying arguments get static copies. The graph
     * shares the memory pool of the live graph {@code shareWith} (0: a new pool).
     */
    static native long capture(long module, String method, long[] args, boolean[] varying, int warmups,
            long shareWith);

    /** Copies the varying arguments into the graph's buffers, replays it, returns handles of its outputs' clones. */
    static native long[] replay(long graph, long[] args);

    /** Frees the graph and what it holds. */
    static native void release(long graph);
}
