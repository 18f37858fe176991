package dev.jdiffuse.models.textinv;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The textual-inversion embeddings a prompt may use, immutable (a library that sees a changed folder makes a new set,
 * so a job keeps the set it started with). {@link #fingerprint()} names every embedding and its content hash: the
 * prompt-encoding cache keys on it, so a replaced file is never answered from the cache.
 *
 * <p>Names are matched as AUTOMATIC1111's {@code EmbeddingDatabase} does: each name is tokenized with the prompt's
 * tokenizer and found as a token sequence in the prompt's tokens ({@code find_embedding_at_position}); at a position,
 * the longest matching name wins.
 */
public final class EmbeddingSet {

    public static final EmbeddingSet EMPTY = new EmbeddingSet(List.of());

    /** A name's token ids and its embedding. */
    public record Entry(int[] ids, TextualInversion embedding) {
    }

    /** The embedding found at a position and how many prompt tokens its name took. */
    public record Match(TextualInversion embedding, int tokens) {
    }

    private final Map<String, TextualInversion> byName;
    private final String fingerprint;
    /** Per tokenizer (its encode function): first token id -> names starting with it, longest first. */
    private final Map<Function<String, int[]>, Map<Integer, List<Entry>>> lookups = new ConcurrentHashMap<>();

    public EmbeddingSet(List<TextualInversion> embeddings) {
        Map<String, TextualInversion> m = new TreeMap<>();
        for (TextualInversion e : embeddings) {
            m.put(e.name(), e);
        }
        this.byName = java.util.Collections.unmodifiableMap(m);
        StringBuilder f = new StringBuilder();
        m.values().forEach(e -> f.append(e.name()).append(':').append(e.hash()).append(';'));
        this.fingerprint = f.toString();
    }

    public boolean isEmpty() {
        return byName.isEmpty();
    }

    /** By name (as written in a prompt), sorted. */
    public Map<String, TextualInversion> byName() {
        return byName;
    }

    /** The embedding called {@code name}, or null. */
    public TextualInversion get(String name) {
        return byName.get(name);
    }

    /** Every name with its content hash; equal fingerprints mean the same embeddings. */
    public String fingerprint() {
        return fingerprint;
    }

    /**
     * The embedding whose name's tokens start at {@code tokens[offset]}, or null (A1111's
     * {@code find_embedding_at_position}).
     *
     * @param tokenize the prompt's tokenizer, text to ids without BOS/EOS
     */
    public Match find(Function<String, int[]> tokenize, int[] tokens, int offset) {
        if (byName.isEmpty()) {
            return null;
        }
        List<Entry> candidates = lookup(tokenize).get(tokens[offset]);
        if (candidates == null) {
            return null;
        }
        for (Entry c : candidates) {
            if (offset + c.ids().length <= tokens.length && java.util.Arrays.equals(tokens, offset,
                    offset + c.ids().length, c.ids(), 0, c.ids().length)) {
                return new Match(c.embedding(), c.ids().length);
            }
        }
        return null;
    }

    private Map<Integer, List<Entry>> lookup(Function<String, int[]> tokenize) {
        return lookups.computeIfAbsent(tokenize, t -> {
            Map<Integer, List<Entry>> m = new HashMap<>();
            for (TextualInversion e : byName.values()) {
                int[] ids = t.apply(e.name());
                if (ids.length > 0) {
                    m.computeIfAbsent(ids[0], k -> new ArrayList<>()).add(new Entry(ids, e));
                }
            }
            m.values().forEach(l -> l.sort(Comparator.comparingInt((Entry x) -> x.ids().length).reversed()));
            return m;
        });
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EmbeddingSet s && fingerprint.equals(s.fingerprint);
    }

    @Override
    public int hashCode() {
        return Objects.hash(fingerprint);
    }

    @Override
    public String toString() {
        return "EmbeddingSet" + byName.keySet();
    }
}
