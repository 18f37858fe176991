package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.prompt.PromptSyntax;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The last prompts' text-encoder outputs of one model, so a prompt asked again (a new seed, another sampler, the next
 * job of a batch of users with one prompt) costs a device copy instead of the CLIP passes. An entry is keyed by what
 * the encoding depends on besides the weights (prompt, batch, clip skip, prompt syntax) and holds the text encoders'
 * parameter arrays it was made with: a LoRA swaps those arrays ({@link Parameter#replace}), so an entry made under
 * another LoRA set misses by identity, and one made under the base weights hits again once they are put back.
 * At most {@link #CAPACITY} entries, least recently used dropped first; each owns a sub-manager of the encoders'
 * weights manager, closed when dropped or with the model.
 */
final class PromptEmbeddingCache implements AutoCloseable {

    static final int CAPACITY = 32;

    private record Key(String prompt, int batch, int clipSkip, PromptSyntax syntax) {
    }

    private record Entry(SdPromptEncoder.Encoded encoded, List<NDArray> weights, NDManager owner) {
    }

    private final List<Parameter> parameters = new ArrayList<>();
    /** The text encoders' weights manager: entries live in its sub-managers, so they go when the model is closed. */
    private final NDManager parent;
    private final Map<Key, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long hits;
    private long misses;

    PromptEmbeddingCache(List<? extends Module> encoders) {
        for (Module m : encoders) {
            if (m != null) {
                parameters.addAll(m.namedParameters().values());
            }
        }
        parent = parameters.isEmpty() ? null : parameters.get(0).get().getManager();
    }

    /** The cached encoding copied into {@code manager}, or {@code encode}'s, which is then kept. */
    SdPromptEncoder.Encoded get(NDManager manager, String prompt, int batch, int clipSkip, PromptSyntax syntax,
            Supplier<SdPromptEncoder.Encoded> encode) {
        Key key = new Key(prompt, batch, clipSkip, syntax);
        List<NDArray> weights = weights();
        synchronized (this) {
            Entry e = entries.get(key);
            if (e != null && sameArrays(e.weights(), weights)) {
                hits++;
                return copy(e.encoded(), manager);
            }
            misses++;
        }
        SdPromptEncoder.Encoded fresh = encode.get();
        if (parent == null || !parent.isOpen()) {
            return fresh;
        }
        NDManager owner = parent.newSubManager(fresh.context().getDevice());
        Entry made = new Entry(copy(fresh, owner), weights, owner);
        synchronized (this) {
            Entry old = entries.put(key, made);
            if (old != null) {
                old.owner().close();
            }
            for (Iterator<Entry> it = entries.values().iterator(); entries.size() > CAPACITY && it.hasNext(); ) {
                it.next().owner().close();
                it.remove();
            }
        }
        return fresh;
    }

    /** Lookups answered from the cache and those that encoded (for tests and logs). */
    synchronized long[] hitsAndMisses() {
        return new long[] {hits, misses};
    }

    @Override
    public synchronized void close() {
        entries.values().forEach(e -> e.owner().close());
        entries.clear();
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

    private static SdPromptEncoder.Encoded copy(SdPromptEncoder.Encoded e, NDManager manager) {
        return new SdPromptEncoder.Encoded(copy(e.context(), manager), e.pooled() == null ? null
                : copy(e.pooled(), manager), e.chunks());
    }

    private static NDArray copy(NDArray a, NDManager manager) {
        NDArray c = a.duplicate();
        c.attach(manager);
        return c;
    }
}
