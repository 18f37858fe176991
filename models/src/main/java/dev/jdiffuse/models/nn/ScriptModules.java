package dev.jdiffuse.models.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * TorchScript modules written as source text and loaded through DJL's TorchScript loader: the text is the body of
 * {@code code/__torch__.py} in a {@code torch.jit.save} archive ({@link FusedOps#archive}), i.e. a class deriving from
 * {@code Module} with no parameters, whose methods take every tensor they need as arguments. Compiled once per
 * distinct source text and kept for the life of the process (a module without weights is a few kilobytes); two
 * models of one architecture share it.
 */
public final class ScriptModules {

    private static final NDManager OWNER = NDManager.newBaseManager(Device.cpu());
    /**
     * Whether scripts run under libtorch's profiling graph executor optimisations (shape specialisation, kernel
     * fusion, re-profiling whenever a new input shape comes); off unless {@code -Djdiffuse.scripted.optimize=true},
     * switched on the calling thread only for the duration of the call (the setting is thread-local in libtorch).
     * Off by default because a server meets new shapes all the time (every new number of jobs sharing a forward is
     * one) and each costs a re-profiling: measured on an H200 (issue 13, session 5 run 2, SD 1.5 fp16), the first
     * burst of 4 concurrent jobs took 7.9 s with the optimisations and 3.4 s without, while a forward of a shape seen
     * before took the same either way (batch 2: 15.3 / 15.5 ms; batch 32: 99.8 / 102.1 ms).
     */
    private static final boolean OPTIMIZE = Boolean.parseBoolean(System.getProperty("jdiffuse.scripted.optimize",
            "false"));
    /** What DJL left the setting at (its own property), restored after an unoptimised call. */
    private static final boolean DJL_OPTIMIZE = Boolean.parseBoolean(System.getProperty(
            "ai.djl.pytorch.graph_optimizer", "true"));
    private static final Map<String, PtSymbolBlock> LOADED = new ConcurrentHashMap<>();

    private ScriptModules() {
    }

    /**
     * The module of class {@code cls} compiled from {@code code} (a whole {@code __torch__.py}: {@code class <cls>
     * (Module):} with {@code __parameters__ = []}, {@code __buffers__ = []}, {@code training : bool} and methods whose
     * {@code self} is annotated {@code __torch__.<cls>}).
     *
     * @throws RuntimeException (DJL's EngineException) naming the TorchScript compile error
     */
    public static PtSymbolBlock load(String cls, String code) {
        return LOADED.computeIfAbsent(cls + "\n" + code, k -> compile(cls, code));
    }

    /**
     * Runs {@code method} of a module from {@link #load} (without the graph executor optimisations unless
     * {@code -Djdiffuse.scripted.optimize=true}, see {@link #OPTIMIZE}); the caller closes the result.
     */
    public static IValue run(PtSymbolBlock module, String method, IValue... args) {
        return unoptimised(() -> IValueUtils.runMethod(module, method, args));
    }

    /** Runs {@code call} under the same graph executor setting as {@link #run} (a CUDA graph capture runs a method). */
    static <T> T unoptimised(Supplier<T> call) {
        if (OPTIMIZE) {
            return call.get();
        }
        JniUtils.setGraphExecutorOptimize(false);
        try {
            return call.get();
        } finally {
            JniUtils.setGraphExecutorOptimize(DJL_OPTIMIZE);
        }
    }

    private static PtSymbolBlock compile(String cls, String code) {
        try {
            Path file = Files.createTempFile("jdiffuse-" + cls, ".pt");
            try {
                Files.write(file, FusedOps.archive(cls.toLowerCase(java.util.Locale.ROOT), cls, code));
                return JniUtils.loadModule((PtNDManager) OWNER, file, true, new String[0], new String[0], false);
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
