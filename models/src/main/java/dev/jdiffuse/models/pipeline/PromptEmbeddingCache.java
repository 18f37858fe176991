package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.samplers.batching.StepBatcher;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The last prompts' text-encoder outputs of one model, so a prompt asked again (a new seed, another sampler, the next
 * job of a batch of users with one prompt) costs a device copy instead of the encoder passes (CLIP's, or T5-XXL's,
 * which take seconds where it runs on the CPU). An entry is keyed by what the encoding depends on besides the weights
 * (a record the family gives: prompt, batch, clip skip, prompt syntax, T5 length...) and holds the text encoders'
 * parameter arrays it was made with: a LoRA swaps those arrays ({@link Parameter#replace}), so an entry made under
 * another LoRA set misses by identity, and one made under the base weights hits again once they are put back.
 * At most {@link #CAPACITY} entries, least recently used dropped first; each owns a sub-manager of the encoders'
 * weights manager, closed when dropped or with the model.
 *
 * @param <E> a family's encoding (its arrays are copied in and out through {@link Arrays})
 */
public final class PromptEmbeddingCache<E> implements AutoCloseable {

    public static final int CAPACITY = 32;

    /** How a family's encoding is copied into another manager, and on which device its arrays live. */
    public interface Arrays<E> {

        /** {@code e} with each array duplicated into {@code manager}. */
        E copy(E e, NDManager manager);

        /** The device of {@code e}'s arrays (an entry's manager is made there). */
        Device device(E e);
    }

    private record Entry<E>(E encoded, List<NDArray> weights, NDManager owner) {
    }

    private final List<Parameter> parameters = new ArrayList<>();
    private final List<Module> encoders = new ArrayList<>();
    private final Arrays<E> arrays;
    /** The text encoders' weights manager: entries live in its sub-managers, so they go when the model is closed. */
    private final NDManager parent;
    private final Map<Object, Entry<E>> entries = new LinkedHashMap<>(16, 0.75f, true);
    /**
     * Whether an encoding runs where the job's forwards run (see {@link #get}): when every encoder is on a GPU, or as a
     * test sets it.
     */
    private volatile boolean whereForwardsRun;
    /** The encoders gather their own device calls on the forward thread ({@link #encodersGatherTheirCalls}). */
    private volatile boolean encodersGather;
    private long hits;
    private long misses;

    /** @param encoders the modules whose weights the encodings depend on (nulls skipped) */
    public PromptEmbeddingCache(List<? extends Module> encoders, Arrays<E> arrays) {
        for (Module m : encoders) {
            if (m != null) {
                parameters.addAll(m.namedParameters().values());
                this.encoders.add(m);
            }
        }
        this.arrays = arrays;
        parent = parameters.isEmpty() ? null : parameters.get(0).get().getManager();
        whereForwardsRun = !parameters.isEmpty() && parameters.stream().allMatch(p -> p.get().getDevice().isGpu());
    }

    /**
     * The encoders' device calls gather themselves on the forward thread of the job's batcher
     * ({@code StepBatcher.startWork}: the CLIP text encoders on a GPU), so the encoding itself runs on the job's own
     * thread: calls of jobs starting together then meet there and run as one, where whole encodings handed to the
     * forward thread would run one after another.
     *
     * @return this cache
     */
    public PromptEmbeddingCache<E> encodersGatherTheirCalls() {
        encodersGather = true;
        return this;
    }

    /**
     * Overrides where encodings run (tests on the CPU, whose encoders would otherwise always encode in place): as on
     * a GPU, whole encodings on the forward thread, or, for a cache whose encoders gather their calls, the CLIP
     * encoders' calls gathered there.
     */
    void encodeWhereForwardsRun(boolean on) {
        whereForwardsRun = on;
        if (encodersGather) {
            for (Module m : encoders) {
                if (m instanceof dev.jdiffuse.models.clip.ClipTextModel clip) {
                    clip.gatherStartingJobs(on);
                }
            }
        }
    }

    /**
     * The cached encoding of {@code key} copied into {@code manager}, or {@code encode}'s, which is then kept. Where
     * every encoder is on a GPU, {@code encode} runs on the forward thread of the batcher the calling job has joined
     * ({@link StepBatcher#whereCurrentLaneForwardsRun}: launched between two forwards instead of fighting the forward
     * thread for the device's queue); where one is on the host (T5 kept apart), here, so that seconds of host work
     * never hold up the forwards.
     */
    public E get(NDManager manager, Object key, Supplier<E> encode) {
        List<NDArray> weights = weights();
        synchronized (this) {
            Entry<E> e = entries.get(key);
            if (e != null && sameArrays(e.weights(), weights)) {
                hits++;
                return arrays.copy(e.encoded(), manager);
            }
            misses++;
        }
        E fresh = whereForwardsRun && !encodersGather ? StepBatcher.whereCurrentLaneForwardsRun(encode) : encode.get();
        if (parent == null || !parent.isOpen()) {
            return fresh;
        }
        NDManager owner = parent.newSubManager(arrays.device(fresh));
        Entry<E> made = new Entry<>(arrays.copy(fresh, owner), weights, owner);
        synchronized (this) {
            Entry<E> old = entries.put(key, made);
            if (old != null) {
                old.owner().close();
            }
            for (Iterator<Entry<E>> it = entries.values().iterator(); entries.size() > CAPACITY && it.hasNext(); ) {
                it.next().owner().close();
                it.remove();
            }
        }
        return fresh;
    }

    /** Lookups answered from the cache and those that encoded (for tests and logs). */
    public synchronized long[] hitsAndMisses() {
        return new long[] {hits, misses};
    }

    @Override
    public synchronized void close() {
        entries.values().forEach(e -> e.owner().close());
        entries.clear();
    }

    /**
     * The {@link Arrays} of an encoding made of a context and a pooled array (SD 3's and FLUX's), given how to read
     * and rebuild it.
     */
    public static <E> Arrays<E> contextAndPooled(java.util.function.Function<E, NDArray> context,
            java.util.function.Function<E, NDArray> pooled, java.util.function.BiFunction<NDArray, NDArray, E> make) {
        return new Arrays<>() {
            @Override
            public E copy(E e, NDManager manager) {
                return make.apply(PromptEmbeddingCache.copy(context.apply(e), manager),
                        PromptEmbeddingCache.copy(pooled.apply(e), manager));
            }

            @Override
            public Device device(E e) {
                return context.apply(e).getDevice();
            }
        };
    }

    /** {@code a} duplicated into {@code manager} (null stays null): what {@link Arrays#copy} does per array. */
    public static NDArray copy(NDArray a, NDManager manager) {
        if (a == null) {
            return null;
        }
        NDArray c = a.duplicate();
        c.attach(manager);
        return c;
    }

    private List<NDArray> weights() {
        List<NDArray> out = new ArrayList<>(parameters.size());
        for (Parameter p : parameters) {
            out.add(p.get());
        }
        return out;
    }

    private static boolean sameArrays(List<NDArray> a, List<NDArray> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i) != b.get(i)) {
                return false;
            }
        }
        return true;
    }
}
