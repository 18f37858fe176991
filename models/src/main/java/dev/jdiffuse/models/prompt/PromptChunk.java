package dev.jdiffuse.models.prompt;

import dev.jdiffuse.models.textinv.TextualInversion;

import java.util.Arrays;
import java.util.List;

/**
 * One 77-token window of a prompt: {@code [BOS] + up to 75 prompt tokens + [EOS]}, filled to 77 with the pad id,
 * and a weight per position (1 on BOS, EOS and padding).
 *
 * @param tokens 77 token ids, ready for the text encoder
 * @param weights 77 multipliers, in double precision as A1111 computes them
 * @param fixes textual-inversion embeddings whose vectors replace the token embeddings at their positions (A1111's
 *     {@code PromptChunkFix}); their tokens hold placeholder id 0, as A1111's
 */
public record PromptChunk(int[] tokens, double[] weights, List<Fix> fixes) {

    /**
     * An embedding's vectors at window positions {@code position .. position + N - 1} (BOS is position 0).
     */
    public record Fix(int position, TextualInversion embedding) {
    }

    public PromptChunk {
        if (tokens.length != weights.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + weights.length + " weights");
        }
        tokens = tokens.clone();
        weights = weights.clone();
        fixes = fixes == null ? List.of() : List.copyOf(fixes);
        for (Fix f : fixes) {
            if (f.position() < 1 || f.position() + f.embedding().vectors() > tokens.length) {
                throw new IllegalArgumentException("embedding " + f.embedding().name() + " at " + f.position()
                        + " does not fit " + tokens.length + " positions");
            }
        }
    }

    /** Token ids only, no embedding. */
    public PromptChunk(int[] tokens, double[] weights) {
        this(tokens, weights, List.of());
    }

    @Override
    public int[] tokens() {
        return tokens.clone();
    }

    @Override
    public double[] weights() {
        return weights.clone();
    }

    /** True when every weight is 1, so weighting leaves the encoder output unchanged. */
    public boolean unweighted() {
        for (double w : weights) {
            if (w != 1.0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PromptChunk c && Arrays.equals(tokens, c.tokens) && Arrays.equals(weights, c.weights)
                && fixes.equals(c.fixes);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(tokens) + Arrays.hashCode(weights)) + fixes.hashCode();
    }

    @Override
    public String toString() {
        return "PromptChunk" + Arrays.toString(tokens) + (fixes.isEmpty() ? "" : fixes.toString());
    }
}
