package dev.jdiffuse.models.prompt;

import java.util.Arrays;

/**
 * One 77-token window of a prompt: {@code [BOS] + up to 75 prompt tokens + [EOS]}, filled to 77 with the pad id,
 * and a weight per position (1 on BOS, EOS and padding).
 *
 * @param tokens 77 token ids, ready for the text encoder
 * @param weights 77 multipliers, in double precision as A1111 computes them
 */
public record PromptChunk(int[] tokens, double[] weights) {

    public PromptChunk {
        if (tokens.length != weights.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + weights.length + " weights");
        }
        tokens = tokens.clone();
        weights = weights.clone();
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
        return o instanceof PromptChunk c && Arrays.equals(tokens, c.tokens) && Arrays.equals(weights, c.weights);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(tokens) + Arrays.hashCode(weights);
    }

    @Override
    public String toString() {
        return "PromptChunk" + Arrays.toString(tokens);
    }
}
