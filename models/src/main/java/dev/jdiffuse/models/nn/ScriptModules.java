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

/**
 * TorchScript modules written as source text and loaded through DJL's TorchScript loader: the text is the body of
 * {@code code/__torch__.py} in a {@code torch.jit.save} archive ({@link FusedOps#archive}), i.e. a class deriving from
 * {@code Module} with no parameters, whose methods take every tensor they need as arguments. Compiled once per
 * distinct source text and kept for the life of the process (a module without weights is a few kilobytes); two
 * models of one architecture share it.
 */
public final class ScriptModules {

    private static final NDManager OWNER = NDManager.newBaseManager(Device.cpu());
    private static final Map<String, PtSymbolBlock> LOADED = new ConcurrentHashMap<>();
    /** {@code -Djdiffuse.scripted.optimize}, as TorchScriptUNet reads it. */
    private static final boolean OPTIMIZE = Boolean.parseBoolean(System.getProperty("jdiffuse.scripted.optimize",
            "false"));
    /** What DJL left the setting at (its own property), restored after an unoptimised call. */
    private static final boolean DJL_OPTIMIZE = Boolean.parseBoolean(System.getProperty(
            "ai.djl.pytorch.graph_optimizer", "true"));

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
     * Runs {@code method} of a loaded module. Unless {@code -Djdiffuse.scripted.optimize=true}, libtorch's profiling
     * graph executor optimisations are switched off on the calling thread for the call (thread-local in libtorch):
     * with them every new input shape is re-profiled, which a server meets all the time (docs/perf/scripted-unet.md).
     */
    public static IValue call(PtSymbolBlock module, String method, IValue... args) {
        if (OPTIMIZE) {
            return IValueUtils.runMethod(module, method, args);
        }
        JniUtils.setGraphExecutorOptimize(false);
        try {
            return IValueUtils.runMethod(module, method, args);
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
