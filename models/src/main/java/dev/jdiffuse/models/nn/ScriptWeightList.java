package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;

/**
 * The weights of a module as the one list IValue that a generated TorchScript forward takes ({@link ScriptModules}),
 * in the script's fixed order. Built at the first call and rebuilt only when a parameter's array has been replaced
 * (LoRA patching swaps arrays through {@link Parameter#replace}; putting the base back is a change too), so a forward
 * costs no JNI call per weight.
 *
 * <p>The list holds references to the weight tensors, so it is attached to the manager the weights were loaded into
 * (closed with it); a list superseded by a change is closed as soon as no call uses it. Use:
 * {@code try (ScriptWeightList.Lease w = weights.acquire()) { ...call with w.list()... }}. Thread-safe.
 */
public final class ScriptWeightList {

    private final Parameter[] params;
    private final NDManager owner;
    private Lease.Entry current;

    /**
     * @param params the parameters in the script's order
     * @param owner the manager the weights were loaded into
     */
    public ScriptWeightList(Parameter[] params, NDManager owner) {
        this.params = params.clone();
        this.owner = owner;
    }

    /** The current list (rebuilt first when a parameter changed), held until the lease is closed. */
    public Lease acquire() {
        synchronized (this) {
            Lease.Entry e = current;
            if (e == null || !e.matches(params)) {
                if (e != null) {
                    e.superseded = true;
                    e.closeIfUnused();
                }
                e = new Lease.Entry(params, owner);
                current = e;
            }
            e.users++;
            return new Lease(this, e);
        }
    }

    /** One use of a weight list; closing it lets a superseded list be freed. */
    public static final class Lease implements AutoCloseable {
        private final ScriptWeightList from;
        private final Entry entry;
        private boolean closed;

        private Lease(ScriptWeightList from, Entry entry) {
            this.from = from;
            this.entry = entry;
        }

        /** The weights as a TorchScript {@code List[Tensor]}. */
        public IValue list() {
            return entry.list;
        }

        @Override
        public void close() {
            synchronized (from) {
                if (!closed) {
                    closed = true;
                    entry.users--;
                    entry.closeIfUnused();
                }
            }
        }

        /** One list IValue and the arrays it was made of. Guarded by the ScriptWeightList's monitor. */
        private static final class Entry {
            private final NDArray[] arrays;
            private final IValue list;
            private final NDManager owner;
            private int users;
            private boolean superseded;

            Entry(Parameter[] params, NDManager owner) {
                this.arrays = new NDArray[params.length];
                PtNDArray[] pt = new PtNDArray[params.length];
                for (int i = 0; i < params.length; i++) {
                    arrays[i] = params[i].get();
                    pt[i] = (PtNDArray) arrays[i];
                }
                this.list = IValue.listFrom(pt);
                this.owner = owner;
                owner.attachInternal(list.getUid(), list);
            }

            boolean matches(Parameter[] params) {
                for (int i = 0; i < params.length; i++) {
                    if (params[i].get() != arrays[i]) {
                        return false;
                    }
                }
                return !list.isReleased();
            }

            void closeIfUnused() {
                if (superseded && users == 0 && !list.isReleased()) {
                    owner.detachInternal(list.getUid());
                    list.close();
                }
            }
        }
    }
}
