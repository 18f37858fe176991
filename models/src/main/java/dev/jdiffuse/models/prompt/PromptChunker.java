package dev.jdiffuse.models.prompt;

import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversion;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a parsed prompt into 75-token chunks, as A1111's {@code FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line}
 * and {@code process_tokens} do:
 * <ul>
 *   <li>each segment is tokenized on its own (no BOS/EOS) and every token gets the segment's weight;</li>
 *   <li>a chunk holds at most 75 tokens; a {@code BREAK} closes the current chunk (even an empty one);</li>
 *   <li>comma backtracking: when a chunk is full and the next token is not a comma, and the last comma of the chunk
 *       is at most {@code commaBacktrack} (A1111 default 20) positions from its end, the tokens after that comma move
 *       to the next chunk;</li>
 *   <li>each chunk becomes {@code [BOS] + tokens + [EOS]...} to 77 positions; everything after the first EOS is then
 *       set to the pad id (SD1's tokenizer pads with EOS itself, SDXL's second and SD2's with id 0);</li>
 *   <li>an empty prompt gives one chunk; trailing tokens after the last full chunk give one more.</li>
 *   <li>textual-inversion embeddings ({@link EmbeddingSet}): where a segment's tokens spell an embedding's name
 *       (A1111's {@code find_embedding_at_position}), or where ComfyUI's {@code embedding:name} is written, the
 *       embedding's N vectors take N positions (placeholder id 0, the segment's weight) and are recorded as a
 *       {@link PromptChunk.Fix}; an embedding is never split across chunks: when it does not fit in the current chunk
 *       the chunk is closed first. Unlike A1111, comma backtracking moves an embedding's fix along with its
 *       placeholder tokens (A1111 leaves the fix behind, pointing past the chunk's end).</li>
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

    /** ComfyUI's explicit reference: {@code embedding:name} (a file extension after the name is allowed). */
    private static final Pattern COMFY_EMBEDDING = Pattern.compile("embedding:([^\\s,]+)");
    /** Not a token id (nor the comma's): {@link Builder#prepare} before an explicitly named embedding. */
    private static final int NO_TOKEN = Integer.MIN_VALUE;

    /** {@code prompt} parsed as {@code emphasis} says, then chunked. */
    public List<PromptChunk> chunk(String prompt, Emphasis emphasis) {
        return chunk(emphasis.segments(prompt));
    }

    /** {@code prompt} parsed as {@code emphasis} says, then chunked with {@code embeddings} in place of their names. */
    public List<PromptChunk> chunk(String prompt, Emphasis emphasis, EmbeddingSet embeddings) {
        return chunk(emphasis.segments(prompt), embeddings);
    }

    /** The chunks of already parsed segments; never empty. */
    public List<PromptChunk> chunk(List<PromptSegment> segments) {
        return chunk(segments, EmbeddingSet.EMPTY);
    }

    /** The chunks of already parsed segments, with {@code embeddings} in place of their names; never empty. */
    public List<PromptChunk> chunk(List<PromptSegment> segments, EmbeddingSet embeddings) {
        Builder b = new Builder();
        for (PromptSegment segment : segments) {
            if (segment.isBreak()) {
                b.close();
                continue;
            }
            String text = segment.text();
            Matcher m = embeddings.isEmpty() ? null : COMFY_EMBEDDING.matcher(text);
            int from = 0;
            while (m != null && m.find()) {
                TextualInversion explicit = explicit(embeddings, m.group(1));
                if (explicit == null) {
                    continue; // an unknown name stays text, as an unknown A1111 name does
                }
                addText(b, text.substring(from, m.start()), segment.weight(), embeddings);
                b.prepare(NO_TOKEN); // what the name's first token would meet: backtracking, a full chunk closing
                b.addEmbedding(explicit, segment.weight());
                from = m.end();
            }
            addText(b, text.substring(from), segment.weight(), embeddings);
        }
        if (!b.tokens.isEmpty() || b.chunks.isEmpty()) {
            b.close();
        }
        return List.copyOf(b.chunks);
    }

    /** A1111's {@code tokenize_line} inner loop over one piece of text: tokens, with embedding names replaced. */
    private void addText(Builder b, String text, double weight, EmbeddingSet embeddings) {
        if (text.isEmpty()) {
            return;
        }
        int[] tokens = tokenize.apply(text);
        int position = 0;
        while (position < tokens.length) {
            b.prepare(tokens[position]);
            EmbeddingSet.Match match = embeddings.find(tokenize, tokens, position);
            if (match == null) {
                b.append(tokens[position], weight);
                position++;
            } else {
                b.addEmbedding(match.embedding(), weight);
                position += match.tokens();
            }
        }
    }

    private static TextualInversion explicit(EmbeddingSet embeddings, String name) {
        TextualInversion e = embeddings.get(name);
        if (e == null) {
            for (String ext : List.of(".safetensors", ".pt", ".bin")) {
                if (name.endsWith(ext)) {
                    e = embeddings.get(name.substring(0, name.length() - ext.length()));
                }
            }
        }
        return e;
    }

    /** The growing current chunk and the closed ones (A1111's {@code chunk}, {@code chunks}, {@code last_comma}). */
    private final class Builder {

        final List<PromptChunk> chunks = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        /** Embeddings of the current chunk at their token offsets (without BOS). */
        List<PromptChunk.Fix> fixes = new ArrayList<>();
        int lastComma = -1;

        void append(int token, double weight) {
            tokens.add(token);
            weights.add(weight);
        }

        /** A1111's {@code tokenize_line}: an embedding that does not fit closes the chunk; it is never split. */
        void addEmbedding(TextualInversion embedding, double weight) {
            int n = embedding.vectors();
            if (tokens.size() + n > CHUNK_LENGTH) {
                close();
            }
            fixes.add(new PromptChunk.Fix(tokens.size(), embedding));
            for (int i = 0; i < n; i++) {
                append(0, weight);
            }
        }

        /** Comma bookkeeping, backtracking and closing a full chunk before {@code token} is placed. */
        void prepare(int token) {
            if (token == comma) {
                lastComma = tokens.size();
            } else if (commaBacktrack != 0 && tokens.size() == CHUNK_LENGTH && lastComma != -1
                    && tokens.size() - lastComma <= commaBacktrack) {
                int cut = lastComma + 1;
                List<Integer> movedTokens = new ArrayList<>(tokens.subList(cut, tokens.size()));
                List<Double> movedWeights = new ArrayList<>(weights.subList(cut, weights.size()));
                List<PromptChunk.Fix> movedFixes = new ArrayList<>();
                fixes.removeIf(f -> {
                    if (f.position() >= cut) {
                        movedFixes.add(new PromptChunk.Fix(f.position() - cut, f.embedding()));
                        return true;
                    }
                    return false;
                });
                tokens.subList(cut, tokens.size()).clear();
                weights.subList(cut, weights.size()).clear();
                close();
                tokens = movedTokens;
                weights = movedWeights;
                fixes = movedFixes;
            }
            if (tokens.size() == CHUNK_LENGTH) {
                close();
            }
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
            List<PromptChunk.Fix> framed = new ArrayList<>();
            fixes.forEach(f -> framed.add(new PromptChunk.Fix(f.position() + 1, f.embedding()))); // after BOS
            chunks.add(new PromptChunk(ids, w, framed));
            tokens = new ArrayList<>();
            weights = new ArrayList<>();
            fixes = new ArrayList<>();
            lastComma = -1;
        }
    }
}
