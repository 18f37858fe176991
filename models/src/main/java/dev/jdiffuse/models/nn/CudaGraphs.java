package dev.jdiffuse.models.nn;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether scripted forwards on a CUDA device replay CUDA graphs ({@link CudaGraphCache}): on when the native helper
 * {@code libjdiffuse_cudagraphs.so} (built by {@code native/cudagraphs/build.sh} against the libtorch the process
 * uses) is named by {@code -Djdiffuse.cudaGraphs=PATH} or the environment variable {@code JDIFFUSE_CUDA_GRAPHS}, and
 * it loads. Off otherwise: forwards run as one TorchScript call each, as before.
 *
 * <p>Why: a scripted SD 1.5 UNet forward at 2 rows (one image with classifier-free guidance) is about 1200 kernels
 * that libtorch's interpreter launches in 12-16 ms of host time, more than the GPU needs for them (11.4 ms, measured
 * as a CUDA-graph replay on an H100, session 14), so one image's time follows the host's speed. A replay launches
 * them all in one call.
 */
public final class CudaGraphs {

    /** The system property naming the helper library. */
    public static final String PROPERTY = "jdiffuse.cudaGraphs";
    /** The environment variable naming it when the property is unset. */
    public static final String ENV = "JDIFFUSE_CUDA_GRAPHS";

    private static final Logger LOG = LoggerFactory.getLogger(CudaGraphs.class);
    private static final boolean LOADED = load();
    private static volatile boolean enabled = true;

    private CudaGraphs() {
    }

    /**
     * The most rows (batch entries) a forward may have to run as a graph, {@code -Djdiffuse.cudaGraphs.maxRows}
     * (default 8: one to four images with classifier-free guidance). Above it a forward runs as one TorchScript call:
     * the GPU takes longer than the host there (SD 1.5 at 512x512: 8 rows about 25 ms on an H100 whichever way), so a
     * graph saves little and costs memory (each shape its own graph; capturing all sixteen sizes of continuous
     * batching up to 32 rows ran out of memory on an 80 GB H100, session 15).
     */
    public static final int MAX_ROWS = Integer.getInteger("jdiffuse.cudaGraphs.maxRows", 8);

    /** Whether the helper is loaded and graphs are not switched off ({@link #setEnabled}). */
    public static boolean available() {
        return LOADED && enabled;
    }

    /** Switches graph replays off or back on for the whole process (benchmarks compare both in one run). */
    public static void setEnabled(boolean on) {
        enabled = on;
    }

    private static boolean load() {
        String path = System.getProperty(PROPERTY);
        if (path == null || path.isBlank()) {
            path = System.getenv(ENV);
        }
        if (path == null || path.isBlank()) {
            return false;
        }
        Path lib = Path.of(path).toAbsolutePath();
        if (!Files.isRegularFile(lib)) {
            LOG.error("{} names {}, which is not a file: CUDA graphs stay off", PROPERTY, lib);
            return false;
        }
        try {
            System.load(lib.toString());
            LOG.info("CUDA graphs on: scripted forwards on CUDA devices replay graphs ({})", lib);
            return true;
        } catch (UnsatisfiedLinkError e) {
            LOG.error("CUDA graph helper {} did not load ({}): CUDA graphs stay off", lib, e.getMessage());
            return false;
        }
    }
}
