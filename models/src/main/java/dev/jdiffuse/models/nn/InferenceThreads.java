package dev.jdiffuse.models.nn;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
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
                // loads the native library first: a thread prepared before anything else touched the engine (a
                // bench's main thread) failed here with UnsatisfiedLinkError and kept autograd on
                Engine.getInstance();
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

    /**
     * Prepares the calling thread ({@link #prepare}) and, on a GPU, makes it run one small matrix product and one
     * convolution in float16 and float32 there, so that the per-thread library state PyTorch creates on first use
     * (cuBLAS and cuDNN handles and their workspaces for this thread) exists before the thread's first job rather
     * than inside it ({@code BatchingBench} measured a lone job's first 10 steps on a fresh thread at 0.72-0.99 s
     * against 0.23-0.32 s on a warm one). The server runs it on each worker thread at start. Not measured apart: the
     * slow first bursts after a start are dominated by each new batch size's first forward (0.7-1.5 s, session 5
     * run 2), which this does not touch. Nothing on the CPU. Failures are logged, never thrown: a thread that could
     * not warm up still works, only slower at first.
     */
    public static void warm(Device device) {
        prepare();
        if (device == null || !device.isGpu() || !"PyTorch".equals(Engine.getDefaultEngineName())) {
            return;
        }
        try (NDManager m = NDManager.newBaseManager(device)) {
            for (DataType type : new DataType[] {DataType.FLOAT16, DataType.FLOAT32}) {
                NDArray a = m.ones(new Shape(2, 64, 64), type);
                NDArray product = a.matMul(a); // batched GEMM: cuBLAS
                NDArray x = m.ones(new Shape(1, 8, 16, 16), type);
                NDArray w = m.ones(new Shape(8, 8, 3, 3), type);
                NDArray conv = x.getNDArrayInternal().convolution(x, w, null, new Shape(1, 1), new Shape(1, 1),
                        new Shape(1, 1), 1).get(0); // cuDNN
                product.sum().add(conv.sum()).toType(DataType.FLOAT32, false).getFloat(); // waits for the device
            }
        } catch (RuntimeException | LinkageError e) {
            org.slf4j.LoggerFactory.getLogger(InferenceThreads.class).warn("could not warm thread {} up on {}: {}",
                    Thread.currentThread().getName(), device, e.toString());
        }
    }
}
