package dev.jdiffuse.models.t5;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The T5 v1.1 tokenizer on the real vocabulary (the copy shipped in the jar). Expected ids are looked up in the
 * vocabulary by piece, never typed in; segmentations are checked optimal against
 * an independent recursive search over every split into vocabulary pieces.
 */
class T5TokenizerTest {

    private static T5Tokenizer tok;
    /** piece -> [id, score] from the shipped tokenizer.json, read independently of T5Tokenizer. */
    private static Map<String, double[]> vocab;

    @BeforeAll
    static void load() throws Exception {
        tok = T5Tokenizer.bundled();
        try (InputStream in = new GZIPInputStream(
                T5Tokenizer.class.getResourceAsStream(T5Tokenizer.BUNDLED_RESOURCE))) {
            JsonNode pairs = new ObjectMapper().readTree(in).path("model").path("vocab");
            vocab = new HashMap<>();
            for (int i = 0; i < pairs.size(); i++) {
                vocab.putIfAbsent(pairs.get(i).get(0).textValue(), new double[] {i, pairs.get(i).get(1).doubleValue()});
            }
        }
    }

    private static int id(String piece) {
        double[] e = vocab.get(piece);
        if (e == null) {
            throw new AssertionError("piece " + piece + " not in the vocabulary");
        }
        return (int) e[0];
    }

    @Test
    void helloWorldIsTheKnownT5Ids() {
        // the T5 ids everyone quotes: "▁Hello" 8774, "▁world" 296, "</s>" 1; confirmed by lookup
        assertEquals(8774, id("\u2581Hello"));
        assertEquals(296, id("\u2581world"));
        assertArrayEquals(new int[] {8774, 296}, tok.encode("Hello world"));
        int[] padded = tok.encodePadded("Hello world", 6);
        assertArrayEquals(new int[] {8774, 296, 1, 0, 0, 0}, padded);
        assertEquals(id("</s>"), tok.ids().eos());
        assertEquals(id("<pad>"), tok.ids().pad());
        assertEquals(id("<unk>"), tok.ids().unk());
    }

    @Test
    void whitespaceRunsLeadingAndTrailingSpacesAreCollapsed() {
        int[] plain = tok.encode("Hello world");
        assertArrayEquals(plain, tok.encode("Hello   world"));
        assertArrayEquals(plain, tok.encode("  Hello world  "));
        assertArrayEquals(plain, tok.encode("Hello\tworld\n"));
        assertArrayEquals(plain, tok.encode("Hello\u00a0world"));
        assertArrayEquals(plain, tok.encode("Hello\u3000world"));
    }

    @Test
    void punctuationAndDigitsSegmentOptimally() {
        for (String prompt : List.of("Hello, world!", "a lighthouse on a cliff at dusk, oil painting",
                "Numbers 1234567 and 3.14159, 42!", "don't stop (very) [nice] a+b=c 50% $9.99 #tag",
                "A photo of an astronaut riding a horse on mars, highly detailed, 8k")) {
            assertOptimal(prompt);
        }
        List<String> pieces = tok.pieces("Hello, world!");
        assertEquals(List.of("\u2581Hello", ",", "\u2581world", "!"), pieces);
    }

    @Test
    void nfkcAndCompatibilityCharactersAreNormalised() {
        // NFKC: full-width letters to ASCII, circled digits to digits, the "fi" ligature to f + i
        assertArrayEquals(tok.encode("FULL width"), tok.encode("\uff26\uff35\uff2c\uff2c \uff57\uff49\uff44\uff54\uff48"));
        assertArrayEquals(new int[] {id("\u25811")}, tok.encode("\u2460"));
        assertArrayEquals(tok.encode("fine"), tok.encode("\ufb01ne"));
        // e + combining acute is composed to the single piece "é"
        assertArrayEquals(tok.encode("caf\u00e9"), tok.encode("cafe\u0301"));
        assertArrayEquals(new int[] {id("\u2581caf\u00e9")}, tok.encode("caf\u00e9"));
        assertOptimal("\u00dcber caf\u00e9 cr\u00e8me \u00e0 la fran\u00e7aise");
    }

    @Test
    void unknownCharactersFuseIntoOneUnk() {
        // no piece covers CJK or emoji here: "▁" then one <unk> for the whole run
        assertTrue(!vocab.containsKey("\u65e5") && !vocab.containsKey("\u672c") && !vocab.containsKey("\u8a9e"));
        assertArrayEquals(new int[] {id("\u2581"), id("<unk>")}, tok.encode("\u65e5\u672c\u8a9e"));
        assertArrayEquals(new int[] {id("\u2581"), id("<unk>")}, tok.encode("\ud83d\ude00"));
        int[] mixed = tok.encode("Hello \ud83d\ude00 world");
        assertArrayEquals(new int[] {id("\u2581Hello"), id("\u2581"), id("<unk>"), id("\u2581world")}, mixed);
    }

    @Test
    void addedTokensAreSplitOutOfTheRawText() {
        assertArrayEquals(new int[] {id("<extra_id_0>"), id("</s>"), id("<pad>")},
                tok.encode("<extra_id_0></s><pad>"));
        assertArrayEquals(new int[] {id("\u2581Hello"), id("<extra_id_12>"), id("\u2581world")},
                tok.encode("Hello<extra_id_12> world"));
    }

    @Test
    void emptyPromptIsEosThenPadding() {
        assertArrayEquals(new int[0], tok.encode(""));
        assertArrayEquals(new int[0], tok.encode("   "));
        int[] padded = tok.encodePadded("", 4);
        assertArrayEquals(new int[] {1, 0, 0, 0}, padded);
    }

    @Test
    void longPromptsAreTruncatedKeepingEos() {
        String prompt = "word ".repeat(40);
        int word = id("\u2581word");
        assertEquals(40, tok.encode(prompt).length);
        int[] padded = tok.encodePadded(prompt, 32);
        assertEquals(32, padded.length);
        for (int i = 0; i < 31; i++) {
            assertEquals(word, padded[i], "position " + i);
        }
        assertEquals(1, padded[31]);
        int[][] batch = tok.encodePadded(List.of(prompt, "Hello world"), 32);
        assertArrayEquals(padded, batch[0]);
        assertArrayEquals(tok.encodePadded("Hello world", 32), batch[1]);
    }

    @Test
    void theSd35FixtureTokenizerIsTheSameVocabulary() {
        Path folder = Fixtures.require("layouts/sd35/model/tokenizer_3");
        T5Tokenizer fixture = T5Tokenizer.load(folder);
        for (String p : List.of("a lighthouse on a cliff at dusk, oil painting", "", "Hello  world \u2460 \u65e5")) {
            assertArrayEquals(tok.encodePadded(p, 32), fixture.encodePadded(p, 32), p);
        }
    }

    /** Each word of the prompt is segmented with the best total score of all segmentations (independent recursive search). */
    private static void assertOptimal(String prompt) {
        for (String word : ("\u2581" + tok.normalize(prompt).replace(' ', '\u2581')).split("(?=\u2581)")) {
            if (word.isEmpty()) {
                continue;
            }
            int[] cps = word.codePoints().toArray();
            double best = bestScore(cps, 0, new Double[cps.length + 1]);
            double got = 0;
            for (int id : tok.encode(word)) {
                got += score(id);
            }
            assertEquals(best, got, 1e-9, "word '" + word + "' of '" + prompt + "': " + tok.pieces(word));
        }
    }

    private static double score(int id) {
        for (double[] e : vocab.values()) {
            if ((int) e[0] == id) {
                return e[1];
            }
        }
        throw new AssertionError("id " + id);
    }

    /** Max over all splits of cps[from..] into vocabulary pieces (every split, memoised). */
    private static double bestScore(int[] cps, int from, Double[] memo) {
        if (from == cps.length) {
            return 0;
        }
        if (memo[from] != null) {
            return memo[from];
        }
        double best = Double.NEGATIVE_INFINITY;
        for (int end = from + 1; end <= cps.length; end++) {
            double[] e = vocab.get(new String(cps, from, end - from));
            if (e != null) {
                best = Math.max(best, e[1] + bestScore(cps, end, memo));
            }
        }
        memo[from] = best;
        return best;
    }
}
