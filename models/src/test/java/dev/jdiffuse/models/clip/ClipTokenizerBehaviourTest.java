package dev.jdiffuse.models.clip;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** BPE and padding rules on a hand-made vocabulary, independent of the fixtures. */
class ClipTokenizerBehaviourTest {

    // byte-level symbols: 'h','i','!' are themselves; merges build "hi</w>" from h + i</w>
    private static final Map<String, Integer> VOCAB = Map.of("!", 0, "h", 1, "i", 2, "i</w>", 3, "hi</w>", 4,
            "h</w>", 5, "!</w>", 6, "<|startoftext|>", 7, "<|endoftext|>", 8);
    private static final List<String[]> MERGES = List.<String[]>of(new String[] {"h", "i</w>"});

    private static ClipTokenizer tokenizer(String pad) {
        return new ClipTokenizer(VOCAB, MERGES, Set.of(),
                new ClipSpecialTokens("<|startoftext|>", "<|endoftext|>", pad, "<|endoftext|>", 6));
    }

    @Test
    void mergesByRankAndMarksWordEnd() {
        ClipTokenizer t = tokenizer("<|endoftext|>");
        assertArrayEquals(new int[] {4, 1, 2, 3}, t.encode("HI\t hii"), "hi</w>, then h i i</w> (no merge h+i)");
    }

    @Test
    void padsWithTheConfiguredPadTokenAndTruncates() {
        assertArrayEquals(new int[] {7, 4, 8, 8, 8, 8}, tokenizer("<|endoftext|>").encodePadded("hi"));
        assertArrayEquals(new int[] {7, 4, 8, 0, 0, 0}, tokenizer("!").encodePadded("hi"), "SD2 pads with '!'");
        assertArrayEquals(new int[] {7, 4, 4, 8}, tokenizer("!").encodePadded("hi hi hi hi", 4));
    }

    @Test
    void specialTokensAreSplitOutBeforeNormalisation() {
        // transformers adds every special token (SD2's pad '!' included) to its added-token trie
        assertArrayEquals(new int[] {4, 0, 0}, tokenizer("!").encode("hi!!"));
        assertArrayEquals(new int[] {4, 8, 5}, tokenizer("<|endoftext|>").encode("hi<|endoftext|>h"));
    }

    @Test
    void unknownSpecialTokenIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> tokenizer("<pad>"));
    }
}
