package dev.jdiffuse.models.nn;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Per-thread engine settings for threads that run models. PyTorch keeps autograd's mode per thread and DJL switches
 * it off only on the thread that starts the engine, so every other thread (job workers, the batchers' forward
 * threads) recorded autograd state for each op and ran TorchScript kernels under a grad-enabled plan: measured on an
 * H200 with {@code BatchingBench}, 16 jobs of 10 SD 1.5 steps through one batcher took 8.1 s with autograd on in
 * their threads and 4.4 s with it off.
 */
public final class InferenceThreads {

    private static final ThreadLocal<Boolean> PREPARED = ThreadLocal.withInitial(() -> false);

    private InferenceThreads() {
    }

    /**
     * Switches autograd off on the calling thread (once per thread; nothing when the engine is not PyTorch), and
     * TorchScript's graph-executor optimisation on or off when {@code -Djdiffuse.jit.optimize=true|false} is given.
     */
    public static void prepare() {
        if (PREPARED.get()) {
            return;
        }
        PREPARED.set(true);
        try {
            if ("PyTorch".equals(Engine.getDefaultEngineName())) {
                JniUtils.setGradMode(false);
                String optimize = System.getProperty("jdiffuse.jit.optimize");
                if (optimize != null) {
                    // TorchScript's profiling executor (fusion, re-specialised per new input shape) is also a
                    // per-thread switch; left as PyTorch sets it unless asked
                    JniUtils.setGraphExecutorOptimize(Boolean.parseBoolean(optimize));
                }
            }
        } catch (RuntimeException | LinkageError e) {
            org.slf4j.LoggerFactory.getLogger(InferenceThreads.class).warn(
                    "could not switch autograd off on thread {}: {}", Thread.currentThread().getName(), e.toString());
        }
    }
}
