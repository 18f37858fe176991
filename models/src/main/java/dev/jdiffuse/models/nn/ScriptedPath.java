package dev.jdiffuse.models.nn;

import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A model's one-call TorchScript path beside its op-by-op one, written once for the UNet, the CLIP text encoders and
 * the VAE: the script is made at the first call (or not: switched off, or it cannot be generated or compiled for this
 * model, logged once), and a call it fails inside libtorch is retried op by op. When the op-by-op path succeeds on
 * the same inputs, the script is at fault (an op it cannot run on this device or build) and the model runs op by op
 * from then on, with one warning; when that fails too, the inputs are, and its exception goes to the caller with the
 * script kept. Out-of-memory is rethrown as is (the op-by-op path would need more). Thread-safe.
 *
 * @param <S> the script's type (e.g. TorchScriptUNet)
 */
public final class ScriptedPath<S> {

    private static final Object NONE = new Object();

    private final String what;
    private final Class<?> owner;
    private final Supplier<S> make;
    /** The script, {@link #NONE} when there is none, null until the first call. */
    private volatile Object state;

    /**
     * @param what what runs, for the log ("UNet forward")
     * @param owner the model's class, whose logger says it
     * @param make makes the script: null when it is switched off for this model, an exception when it cannot be made
     */
    public ScriptedPath(String what, Class<?> owner, Supplier<S> make) {
        this.what = what;
        this.owner = owner;
        this.make = make;
    }

    /** Whether calls run as the script (made now if not yet tried). */
    public boolean available() {
        return script() != null;
    }

    /** {@code scripted} with the script, or {@code composite} where there is none or the script failed as above. */
    public <T> T run(Function<S, T> scripted, Supplier<T> composite) {
        S s = script();
        if (s == null) {
            return composite.get();
        }
        try {
            return scripted.apply(s);
        } catch (ai.djl.engine.EngineException e) {
            // memory ran out or the device broke (a sticky CUDA error: the op-by-op path would fail too): the job's
            // failure, not the script's; any other error of the script falls back to the op-by-op path
            if (dev.jdiffuse.models.pipeline.EngineFailures.kindOf(e.getMessage())
                    != dev.jdiffuse.models.pipeline.GenerationException.Kind.FAILED) {
                throw e;
            }
            T out = composite.get();
            state = NONE;
            org.slf4j.LoggerFactory.getLogger(owner).warn("{} runs op by op from now on: its TorchScript form failed "
                    + "where the op-by-op one did not ({})", what, e.toString());
            return out;
        }
    }

    @SuppressWarnings("unchecked")
    private S script() {
        Object s = state;
        if (s == null) {
            synchronized (this) {
                s = state;
                if (s == null) {
                    s = made();
                    state = s;
                }
            }
        }
        return s == NONE ? null : (S) s;
    }

    private Object made() {
        try {
            S s = make.get();
            return s == null ? NONE : s;
        } catch (RuntimeException | LinkageError e) {
            org.slf4j.LoggerFactory.getLogger(owner).warn("{} runs op by op: its TorchScript form is unavailable ({})",
                    what, e.toString());
            return NONE;
        }
    }

    /** Whether {@code -Djdiffuse.scripted} leaves the one-call scripts on (the default). */
    public static boolean enabled() {
        return Boolean.parseBoolean(System.getProperty("jdiffuse.scripted", "true"));
    }
}
