package dev.jdiffuse.models.text;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * How transformers' tokenizers treat special (added) tokens before their model runs: the text is cut at every
 * special token; the plain segments between them are tokenized by the model (BPE, Unigram...), each special token
 * maps to its own id. Used by the CLIP and T5 tokenizers.
 */
public final class SpecialTokenSplit {

    /** The special token that starts at {@code pos} of {@code text}, or null. */
    @FunctionalInterface
    public interface Finder {
        String at(String text, int pos);
    }

    /** A plain segment, and whether it is the text's first (some normalisers treat the start of text apart). */
    @FunctionalInterface
    public interface Segment {
        void accept(String segment, boolean first);
    }

    private SpecialTokenSplit() {
    }

    /** Walks {@code text} left to right, handing plain segments and special tokens over in order. */
    public static void split(String text, Finder finder, Segment plain, Consumer<String> special) {
        int pos = 0;
        int start = 0;
        while (pos < text.length()) {
            String token = finder.at(text, pos);
            if (token == null) {
                pos++;
                continue;
            }
            plain.accept(text.substring(start, pos), start == 0);
            special.accept(token);
            pos += token.length();
            start = pos;
        }
        plain.accept(text.substring(start), start == 0);
    }

    /**
     * A fixed-length sequence as transformers pads and truncates it ({@code padding="max_length", truncation=True}):
     * {@code [bos] + ids[:length - specials] + [eos]}, then {@code pad} up to {@code length}; {@code bos < 0} for a
     * tokenizer without one (T5).
     */
    public static int[] framed(int[] ids, int bos, int eos, int pad, int length) {
        int head = bos >= 0 ? 1 : 0;
        if (length < head + 1) {
            throw new IllegalArgumentException("length " + length + " leaves no room for the special tokens");
        }
        int n = Math.min(ids.length, length - head - 1);
        int[] out = new int[length];
        Arrays.fill(out, pad);
        if (head == 1) {
            out[0] = bos;
        }
        System.arraycopy(ids, 0, out, head, n);
        out[head + n] = eos;
        return out;
    }
}
