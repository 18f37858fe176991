package dev.jdiffuse.models.prompt;

import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversion;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where A1111's {@code tokenize_line} puts embeddings: matched on the name's tokens, weighted like a token, never split
 * across the 75-token chunks. A word tokenizer (one id per space-separated word, "," its own id) keeps counts plain.
 */
class PromptChunkerEmbeddingTest {

    private static final int BOS = 1;
    private static final int EOS = 2;
    private static final int COMMA = 3;

    private final Map<String, Integer> vocab = new HashMap<>(Map.of(",", COMMA));
    private final Function<String, int[]> words = text -> {
        List<Integer> ids = new ArrayList<>();
        for (String w : text.replace(",", " , ").trim().split("\\s+")) {
            if (!w.isEmpty()) {
                ids.add(vocab.computeIfAbsent(w, k -> 10 + vocab.size()));
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    };
    private final PromptChunker chunker = new PromptChunker(words, BOS, EOS, EOS, COMMA, 20);

    private static TextualInversion embedding(String name, int vectors) {
        return new TextualInversion(name, "000000000000", List.<float[][]>of(new float[vectors][4]));
    }

    private static String filler(int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append("w").append(i).append(' ');
        }
        return b.toString();
    }

    @Test
    void aNameBecomesItsVectorsWithTheSegmentsWeight() {
        TextualInversion bad = embedding("bad hands", 3);
        EmbeddingSet set = new EmbeddingSet(List.of(bad, embedding("bad", 1)));
        List<PromptChunk> chunks = chunker.chunk("a (bad hands:1.5) photo", Emphasis.ORIGINAL, set);
        assertEquals(1, chunks.size());
        PromptChunk c = chunks.get(0);
        // the longer name wins at a position: "bad hands" (2 tokens) becomes 3 vectors at positions 2..4
        assertEquals(List.of(new PromptChunk.Fix(2, bad)), c.fixes());
        assertArrayEquals(new int[] {0, 0, 0}, java.util.Arrays.copyOfRange(c.tokens(), 2, 5));
        assertArrayEquals(new double[] {1, 1, 1.5, 1.5, 1.5, 1}, java.util.Arrays.copyOfRange(c.weights(), 0, 6));
        assertEquals(EOS, c.tokens()[6], "photo, then EOS");
    }

    @Test
    void anUnknownNameIsText() {
        EmbeddingSet set = new EmbeddingSet(List.of(embedding("easynegative", 2)));
        assertEquals(chunker.chunk("embedding:nothing here, badhand", Emphasis.ORIGINAL),
                chunker.chunk("embedding:nothing here, badhand", Emphasis.ORIGINAL, set));
    }

    @Test
    void comfyEmbeddingSyntax() {
        TextualInversion e = embedding("easynegative", 2);
        EmbeddingSet set = new EmbeddingSet(List.of(e));
        PromptChunk c = chunker.chunk("cat, embedding:easynegative.safetensors dog", Emphasis.ORIGINAL, set).get(0);
        assertEquals(List.of(new PromptChunk.Fix(3, e)), c.fixes());
        assertEquals(chunker.chunk("cat, easynegative dog", Emphasis.ORIGINAL, set),
                chunker.chunk("cat, embedding:easynegative dog", Emphasis.ORIGINAL, set));
        // at a full chunk the explicit form backtracks to the last comma as the bare name does
        List<PromptChunk> bare = chunker.chunk(filler(72) + ", a b easynegative", Emphasis.ORIGINAL, set);
        assertEquals(2, bare.size());
        assertEquals(List.of(new PromptChunk.Fix(3, e)), bare.get(1).fixes(), "a, b, then the embedding");
        assertEquals(bare, chunker.chunk(filler(72) + ", a b embedding:easynegative", Emphasis.ORIGINAL, set));
    }

    @Test
    void anEmbeddingThatWouldStraddleTheChunkMovesToTheNext() {
        TextualInversion e = embedding("neg", 4);
        EmbeddingSet set = new EmbeddingSet(List.of(e));
        List<PromptChunk> chunks = chunker.chunk(filler(73) + "neg tail", Emphasis.ORIGINAL, set);
        assertEquals(2, chunks.size());
        assertTrue(chunks.get(0).fixes().isEmpty());
        assertEquals(EOS, chunks.get(0).tokens()[74], "73 words, then the chunk closes early");
        assertEquals(List.of(new PromptChunk.Fix(1, e)), chunks.get(1).fixes());
        // exactly fitting: 71 words + 4 vectors = 75 stays in the first chunk
        List<PromptChunk> fit = chunker.chunk(filler(71) + "neg", Emphasis.ORIGINAL, set);
        assertEquals(1, fit.size());
        assertEquals(List.of(new PromptChunk.Fix(72, e)), fit.get(0).fixes());
    }

    @Test
    void commaBacktrackingCarriesTheEmbedding() {
        TextualInversion e = embedding("neg", 2);
        EmbeddingSet set = new EmbeddingSet(List.of(e));
        // 70 words, a comma (71), neg (72-73), two words (74-75), then one more word: the chunk is full and the last
        // comma is 4 from its end, so everything after the comma moves to the next chunk
        List<PromptChunk> chunks = chunker.chunk(filler(70) + ", neg x y z", Emphasis.ORIGINAL, set);
        assertEquals(2, chunks.size());
        assertTrue(chunks.get(0).fixes().isEmpty());
        assertEquals(List.of(new PromptChunk.Fix(1, e)), chunks.get(1).fixes());
        assertArrayEquals(new int[] {BOS, 0, 0}, java.util.Arrays.copyOfRange(chunks.get(1).tokens(), 0, 3));
    }
}
