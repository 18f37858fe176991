package dev.jdiffuse.models.prompt;

import dev.jdiffuse.models.clip.ClipTokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Splits a parsed prompt into 75-token chunks, as A1111's {@code FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line}
 * (minus textual-inversion embeddings) and {@code process_tokens} do:
 * <ul>
 *   <li>each segment is tokenized on its own (no BOS/EOS) and every token gets the segment's weight;</li>
 *   <li>a chunk holds at most 75 tokens; a {@code BREAK} closes the current chunk (even an empty one);</li>
 *   <li>comma backtracking: when a chunk is full and the next token is not a comma, and the last comma of the chunk
 *       is at most {@code commaBacktrack} (A1111 default 20) positions from its end, the tokens after that comma move
 *       to the next chunk;</li>
 *   <li>each chunk becomes {@code [BOS] + tokens + [EOS]...} to 77 positions; everything after the first EOS is then
 *       set to the pad id (SD1's tokenizer pads with EOS itself, SDXL's second and SD2's with id 0);</li>
 *   <li>an empty prompt gives one chunk; trailing tokens after the last full chunk give one more.</li>
 * </ul>
 * ComfyUI ({@code comfy/sd1_clip.py} {@code SDTokenizer.tokenize_with_weights}) also uses 75-token chunks but has no
 * BREAK and no comma backtracking (it keeps words whole instead); this class follows A1111.
 *
 * @param tokenize text to BPE ids without BOS/EOS
 * @param comma the id of {@code ",</w>"}, or -1 for none (no backtracking)
 * @param commaBacktrack 0 turns backtracking off
 */
public record PromptChunker(Function<String, int[]> tokenize, int bos, int eos, int pad, int comma,
        int commaBacktrack) {

    /** Prompt tokens per chunk (77 minus BOS and EOS). */
    public static final int CHUNK_LENGTH = 75;
    /** A1111's {@code comma_padding_backtrack} default. */
    public static final int DEFAULT_COMMA_BACKTRACK = 20;

    public PromptChunker {
        if (commaBacktrack < 0) {
            throw new IllegalArgumentException("commaBacktrack must be >= 0: " + commaBacktrack);
        }
    }

    /** Chunker over {@code tokenizer} with its BOS, EOS and pad ids and A1111's default backtracking. */
    public static PromptChunker of(ClipTokenizer tokenizer) {
        return of(tokenizer, DEFAULT_COMMA_BACKTRACK);
    }

    public static PromptChunker of(ClipTokenizer tokenizer, int commaBacktrack) {
        // A1111 looks up ",</w>" in the vocabulary; a lone "," tokenizes to exactly that id.
        int[] comma = tokenizer.encode(",");
        ClipTokenizer.SpecialIds ids = tokenizer.ids();
        return new PromptChunker(tokenizer::encode, ids.bos(), ids.eos(), ids.pad(), comma.length == 1 ? comma[0] : -1,
                commaBacktrack);
    }

    /** {@code prompt} parsed as {@code emphasis} says, then chunked. */
    public List<PromptChunk> chunk(String prompt, Emphasis emphasis) {
        return chunk(emphasis.segments(prompt));
    }

    /** The chunks of already parsed segments; never empty. */
    public List<PromptChunk> chunk(List<PromptSegment> segments) {
        Builder b = new Builder();
        for (PromptSegment segment : segments) {
            if (segment.isBreak()) {
                b.close();
                continue;
            }
            for (int token : tokenize.apply(segment.text())) {
                b.add(token, segment.weight());
            }
        }
        if (!b.tokens.isEmpty() || b.chunks.isEmpty()) {
            b.close();
        }
        return List.copyOf(b.chunks);
    }

    /** The growing current chunk and the closed ones (A1111's {@code chunk}, {@code chunks}, {@code last_comma}). */
    private final class Builder {

        final List<PromptChunk> chunks = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        int lastComma = -1;

        void add(int token, double weight) {
            if (token == comma) {
                lastComma = tokens.size();
            } else if (commaBacktrack != 0 && tokens.size() == CHUNK_LENGTH && lastComma != -1
                    && tokens.size() - lastComma <= commaBacktrack) {
                int cut = lastComma + 1;
                List<Integer> movedTokens = new ArrayList<>(tokens.subList(cut, tokens.size()));
                List<Double> movedWeights = new ArrayList<>(weights.subList(cut, weights.size()));
                tokens.subList(cut, tokens.size()).clear();
                weights.subList(cut, weights.size()).clear();
                close();
                tokens = movedTokens;
                weights = movedWeights;
            }
            if (tokens.size() == CHUNK_LENGTH) {
                close();
            }
            tokens.add(token);
            weights.add(weight);
        }

        /** A1111's {@code next_chunk}: frame, pad, store, start an empty chunk. */
        void close() {
            int[] ids = new int[CHUNK_LENGTH + 2];
            double[] w = new double[CHUNK_LENGTH + 2];
            java.util.Arrays.fill(w, 1.0);
            java.util.Arrays.fill(ids, eos);
            ids[0] = bos;
            for (int i = 0; i < tokens.size(); i++) {
                ids[i + 1] = tokens.get(i);
                w[i + 1] = weights.get(i);
            }
            // process_tokens: after the first EOS everything becomes the pad id (a no-op when pad == eos).
            boolean seenEos = false;
            for (int i = 0; i < ids.length; i++) {
                if (seenEos) {
                    ids[i] = pad;
                } else if (ids[i] == eos) {
                    seenEos = true;
                }
            }
            chunks.add(new PromptChunk(ids, w));
            tokens = new ArrayList<>();
            weights = new ArrayList<>();
            lastComma = -1;
        }
    }
}
