package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Text-encoder outputs kept across requests: a small LRU from a key (prompt, batch size, and whatever else changes
 * the encoding) to the arrays the encoder returned. Each entry owns a manager of its own (closed on eviction); a hit
 * hands out copies attached to the request's manager, so a request may attach per-request state to them (the UNet's
 * cached cross-attention projections) and frees them with itself, while the entry stays untouched. The encoder runs
 * in a sub-manager of the request's manager that is closed afterwards, so its intermediates never stay in the cache.
 * Thread-safe; two requests missing the same key at once both encode, and one result is kept.
 */
public final class EmbeddingCache implements AutoCloseable {

    private final int capacity;
    private final Map<Object, Entry> entries;
    private final java.util.function.Supplier<NDManager> parent;

    /**
     * @param capacity most entries kept (0: no caching, every request encodes)
     * @param parent the manager entries are made under (the encoder's weights', so they go with the model), or null
     *     for top-level managers
     */
    public EmbeddingCache(int capacity, java.util.function.Supplier<NDManager> parent) {
        this.capacity = capacity;
        this.entries = new LinkedHashMap<>(16, 0.75f, true);
        this.parent = parent;
    }

    public EmbeddingCache(int capacity) {
        this(capacity, null);
    }

    /**
     * The arrays for {@code key}, as copies in {@code into}; on a miss {@code encode} computes them in a manager that
     * is closed afterwards (its results are moved out first). Arrays may be null (an absent output).
     */
    public NDList get(Object key, NDManager into, Function<NDManager, NDList> encode) {
        if (capacity <= 0) {
            return encode.apply(into);
        }
        synchronized (this) {
            Entry e = entries.get(key);
            if (e != null) {
                return e.copyInto(into); // under the lock: an eviction closes the entry's manager
            }
        }
        Entry fresh = encodeEntry(into, encode);
        synchronized (this) {
            Entry e = entries.putIfAbsent(key, fresh);
            if (e != null) {
                fresh.manager.close();
            } else {
                e = fresh;
            }
            NDList out = e.copyInto(into);
            while (entries.size() > capacity) {
                var eldest = entries.entrySet().iterator();
                eldest.next().getValue().manager.close();
                eldest.remove();
            }
            return out;
        }
    }

    private Entry encodeEntry(NDManager into, Function<NDManager, NDList> encode) {
        NDManager owner = parent == null
                ? NDManager.newBaseManager(into.getDevice(), into.getEngine().getEngineName())
                : parent.get().newSubManager(into.getDevice());
        try (NDManager scratch = into.newSubManager()) {
            NDList out = encode.apply(scratch);
            for (NDArray a : out) {
                if (a != null) {
                    a.attach(owner);
                }
            }
            return new Entry(out, owner);
        } catch (RuntimeException | Error t) {
            owner.close();
            throw t;
        }
    }

    /** Entries kept now. */
    public synchronized int size() {
        return entries.size();
    }

    @Override
    public synchronized void close() {
        entries.values().forEach(e -> e.manager.close());
        entries.clear();
    }

    private record Entry(NDList arrays, NDManager manager) {
        /** Copies in {@code into}. */
        NDList copyInto(NDManager into) {
            NDList out = new NDList(arrays.size());
            for (NDArray a : arrays) {
                NDArray copy = a == null ? null : a.duplicate();
                if (copy != null) {
                    copy.attach(into);
                }
                out.add(copy);
            }
            return out;
        }
    }
}
