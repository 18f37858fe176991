package dev.jdiffuse.models.nn;

import java.util.Set;
import java.util.List;
import java.util.ArrayList;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;

/**
 * The weights of a generated TorchScript forward ({@link ScriptModules}) as one list IValue, in the script's fixed
 * order: built once and rebuilt only when a parameter's array has been replaced (LoRA patching swaps arrays,
 * {@link Parameter#replace}; putting the base back is a change too). A forward {@linkplain #acquire acquires} the
 * current list and {@linkplain #release releases} it when done; a superseded list is closed once no forward uses it.
 * The current list holds references to the weight tensors, so it is attached to the manager the model was loaded
 * into and closed with it.
 */
public final class ScriptWeights {

    private final Parameter[] params;
    private final NDArray[] constants;
    private final NDManager owner;
    private Lease current;

    /**
     * @param params the parameters in list order; null where {@code constants} has the entry
     * @param constants non-parameter tensors (fixed for the model's life) at the indices where {@code params} is null
     * @param owner the manager the model's weights live in
     */
    public ScriptWeights(Parameter[] params, NDArray[] constants, NDManager owner) {
        if (params.length != constants.length) {
            throw new IllegalArgumentException(params.length + " parameters but " + constants.length + " constants");
        }
        this.params = params.clone();
        this.constants = constants.clone();
        this.owner = owner;
    }

    /**
     * The weights of a script that reads only parameters: {@code names} in list order, looked up in {@code named}
     * (a model's {@code namedParameters()}, already checked against the names with {@link #requireSameNames}).
     */
    public static ScriptWeights of(java.util.Map<String, Parameter> named, List<String> names, NDManager owner) {
        Parameter[] params = new Parameter[names.size()];
        for (int i = 0; i < params.length; i++) {
            params[i] = named.get(names.get(i));
        }
        return new ScriptWeights(params, new NDArray[params.length], owner);
    }

    /** The list for the current parameter arrays (made now if they changed); give it back with {@link #release}. */
    public synchronized Lease acquire() {
        Lease w = current;
        if (w == null || !w.matches(params)) {
            if (w != null) {
                w.superseded = true;
                w.closeIfUnused();
            }
            w = new Lease(params, constants, owner);
            current = w;
        }
        w.users++;
        return w;
    }

    public synchronized void release(Lease w) {
        w.users--;
        w.closeIfUnused();
    }

    /**
     * One weight list IValue and the arrays it was made of; its identity names one set of weights (a cache of
     * values derived from them can key on it). Guarded by the owning {@link ScriptWeights}' monitor.
     */
    public static final class Lease {
        private final NDArray[] arrays;
        private final IValue list;
        private final NDManager owner;
        private final boolean asLoaded;
        private int users;
        private boolean superseded;

        private Lease(Parameter[] params, NDArray[] constants, NDManager owner) {
            this.arrays = new NDArray[params.length];
            PtNDArray[] pt = new PtNDArray[params.length];
            boolean loaded = true;
            for (int i = 0; i < params.length; i++) {
                arrays[i] = params[i] != null ? params[i].get() : constants[i];
                pt[i] = (PtNDArray) arrays[i];
                loaded &= params[i] == null || params[i].isAsLoaded();
            }
            this.asLoaded = loaded;
            this.list = IValue.listFrom(pt);
            this.owner = owner;
            owner.attachInternal(list.getUid(), list);
        }

        /**
         * Whether every array is the one its parameter was loaded with (no LoRA merged in): two such leases hold the
         * same arrays, so a CUDA graph captured with one reads the right weights under the other.
         */
        public boolean asLoaded() {
            return asLoaded;
        }

        /** The list IValue, to pass to the script; valid until released. */
        public IValue list() {
            return list;
        }

        private boolean matches(Parameter[] params) {
            for (int i = 0; i < params.length; i++) {
                if (params[i] != null && params[i].get() != arrays[i]) {
                    return false;
                }
            }
            return !list.isReleased();
        }

        private void closeIfUnused() {
            if (superseded && users == 0 && !list.isReleased()) {
                owner.detachInternal(list.getUid());
                list.close();
            }
        }
    }

    /**
     * Checks that a generated script reads exactly the model's parameters (each once), so that a config the generator
     * does not fully cover keeps the op-by-op path instead of running a script with weights missing or misplaced.
     *
     * @param scriptParams the parameter paths the script takes, constants left out
     * @throws UnsupportedOperationException naming up to five missing and five unexpected paths
     */
    public static void requireSameNames(String what, List<String> scriptParams, Set<String> parameterNames) {
        if (Set.copyOf(scriptParams).equals(parameterNames) && scriptParams.size() == parameterNames.size()) {
            return;
        }
        List<String> missing = new ArrayList<>(parameterNames);
        missing.removeAll(scriptParams);
        List<String> extra = new ArrayList<>(scriptParams);
        extra.removeAll(parameterNames);
        throw new UnsupportedOperationException(what + " script weights differ from the model's: not in the script "
                + missing.subList(0, Math.min(5, missing.size())) + ", not in the model "
                + extra.subList(0, Math.min(5, extra.size())));
    }
}
