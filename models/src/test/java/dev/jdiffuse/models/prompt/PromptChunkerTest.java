package dev.jdiffuse.models.prompt;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Pins {@link PromptChunker} to A1111's {@code tokenize_line} by hand, with a toy tokenizer whose ids are written in
 * the prompt: every whitespace-separated word is its own id, and {@code ","} is the comma id. Expected chunks are
 * built position by position from the rules, not from the code under test.
 */
class PromptChunkerTest {

    private static final int BOS = 49406;
    private static final int EOS = 49407;
    private static final int COMMA = 267;

    /** "1 2 , 3" -> [1, 2, 267, 3]. */
    private static int[] toy(String text) {
        return Arrays.stream(text.trim().split("\\s+")).filter(w -> !w.isEmpty())
                .mapToInt(w -> w.equals(",") ? COMMA : Integer.parseInt(w)).toArray();
    }

    private static PromptChunker sd1() {
        return new PromptChunker(PromptChunkerTest::toy, BOS, EOS, EOS, COMMA, PromptChunker.DEFAULT_COMMA_BACKTRACK);
    }

    private static PromptChunker padZero() {
        return new PromptChunker(PromptChunkerTest::toy, BOS, EOS, 0, COMMA, PromptChunker.DEFAULT_COMMA_BACKTRACK);
    }

    /** "from..to" as space-separated ids. */
    private static String ids(int from, int to) {
        return IntStream.rangeClosed(from, to).mapToObj(Integer::toString).collect(Collectors.joining(" "));
    }

    /** [BOS] + body + [EOS] then pad to 77. */
    private static int[] framed(int pad, int... body) {
        int[] out = new int[77];
        Arrays.fill(out, pad);
        out[0] = BOS;
        System.arraycopy(body, 0, out, 1, body.length);
        out[body.length + 1] = EOS;
        return out;
    }

    private static int[] range(int from, int to) {
        return IntStream.rangeClosed(from, to).toArray();
    }

    private static int[] concat(int[] a, int... b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static double[] ones() {
        double[] w = new double[77];
        Arrays.fill(w, 1.0);
        return w;
    }

    private static List<PromptChunk> chunk(PromptChunker c, String prompt) {
        return c.chunk(prompt, Emphasis.ORIGINAL);
    }

    @Test
    void a160TokenPromptGivesThreeChunks() {
        List<PromptChunk> chunks = chunk(sd1(), ids(1, 160));
        assertEquals(3, chunks.size());
        assertArrayEquals(framed(EOS, range(1, 75)), chunks.get(0).tokens());
        assertArrayEquals(framed(EOS, range(76, 150)), chunks.get(1).tokens());
        assertArrayEquals(framed(EOS, range(151, 160)), chunks.get(2).tokens());
        for (PromptChunk c : chunks) {
            assertEquals(77, c.tokens().length);
            assertArrayEquals(ones(), c.weights());
        }
    }

    @Test
    void exactly75TokensIsOneChunkAnd76IsTwo() {
        assertEquals(List.of(new PromptChunk(framed(EOS, range(1, 75)), ones())), chunk(sd1(), ids(1, 75)));
        List<PromptChunk> two = chunk(sd1(), ids(1, 76));
        assertEquals(2, two.size());
        assertArrayEquals(framed(EOS, 76), two.get(1).tokens());
    }

    @Test
    void emptyPromptIsOneChunkOfPadding() {
        assertEquals(List.of(new PromptChunk(framed(EOS), ones())), chunk(sd1(), ""));
        assertEquals(List.of(new PromptChunk(framed(0), ones())), chunk(padZero(), ""));
    }

    @Test
    void padIdFillsEverythingAfterTheFirstEos() {
        int[] tokens = chunk(padZero(), "5 6").get(0).tokens();
        int[] expected = new int[77];
        expected[0] = BOS;
        expected[1] = 5;
        expected[2] = 6;
        expected[3] = EOS; // positions 4..76 stay 0, including the last
        assertArrayEquals(expected, tokens);
        // A full chunk keeps its closing EOS at position 76.
        assertEquals(EOS, chunk(padZero(), ids(1, 75)).get(0).tokens()[76]);
    }

    @Test
    void weightsFollowTheirTokens() {
        // "(1 2:1.5) 3 [4]": 1 and 2 get 1.5, 3 gets 1, 4 gets 1/1.1; BOS, EOS and padding 1.
        PromptChunk c = chunk(sd1(), "(1 2:1.5) 3 [4]").get(0);
        assertArrayEquals(framed(EOS, 1, 2, 3, 4), c.tokens());
        double[] w = ones();
        w[1] = 1.5;
        w[2] = 1.5;
        w[4] = 1 / 1.1;
        assertArrayEquals(w, c.weights());
    }

    @Test
    void commaNearTheEndMovesTheTailToTheNextChunk() {
        // 1..70, comma (chunk index 70), 72..100. When token 76 arrives the chunk is full, its last comma is
        // 75 - 70 = 5 <= 20 positions back, so 72..75 move on.
        List<PromptChunk> chunks = chunk(sd1(), ids(1, 70) + " , " + ids(72, 100));
        assertEquals(2, chunks.size());
        assertArrayEquals(framed(EOS, concat(range(1, 70), COMMA)), chunks.get(0).tokens());
        assertArrayEquals(framed(EOS, range(72, 100)), chunks.get(1).tokens());
    }

    @Test
    void moveCarriesTheWeightsAlong() {
        // Same layout with 72..75 weighted 2: the weights travel with the tokens.
        List<PromptChunk> chunks = chunk(sd1(), ids(1, 70) + " , (" + ids(72, 75) + ":2) " + ids(76, 80));
        double[] w = ones();
        for (int i = 1; i <= 4; i++) {
            w[i] = 2.0;
        }
        assertArrayEquals(framed(EOS, range(72, 80)), chunks.get(1).tokens());
        assertArrayEquals(w, chunks.get(1).weights());
        assertArrayEquals(ones(), chunks.get(0).weights());
    }

    @Test
    void backtrackLimitIsTwentyInclusive() {
        // Comma at chunk index 55: 75 - 55 = 20 -> moved (tokens 57..75 after it).
        List<PromptChunk> near = chunk(sd1(), ids(1, 55) + " , " + ids(57, 80));
        assertArrayEquals(framed(EOS, concat(range(1, 55), COMMA)), near.get(0).tokens());
        assertArrayEquals(framed(EOS, range(57, 80)), near.get(1).tokens());
        // Comma at chunk index 54: 75 - 54 = 21 -> no move; the chunk is cut at 75 tokens.
        List<PromptChunk> far = chunk(sd1(), ids(1, 54) + " , " + ids(56, 80));
        assertArrayEquals(framed(EOS, concat(concat(range(1, 54), COMMA), range(56, 75))), far.get(0).tokens());
        assertArrayEquals(framed(EOS, range(76, 80)), far.get(1).tokens());
    }

    @Test
    void backtrackZeroTurnsItOff() {
        PromptChunker off = new PromptChunker(PromptChunkerTest::toy, BOS, EOS, EOS, COMMA, 0);
        List<PromptChunk> chunks = off.chunk(ids(1, 70) + " , " + ids(72, 100), Emphasis.ORIGINAL);
        assertArrayEquals(framed(EOS, concat(concat(range(1, 70), COMMA), range(72, 75))), chunks.get(0).tokens());
        assertArrayEquals(framed(EOS, range(76, 100)), chunks.get(1).tokens());
    }

    @Test
    void aCommaArrivingAtAFullChunkStartsTheNextOne() {
        // 75 tokens then a comma: the comma is not backtracked over, it opens chunk 2.
        List<PromptChunk> chunks = chunk(sd1(), ids(1, 75) + " , 76");
        assertArrayEquals(framed(EOS, range(1, 75)), chunks.get(0).tokens());
        assertArrayEquals(framed(EOS, COMMA, 76), chunks.get(1).tokens());
    }

    @Test
    void breakStartsANewChunk() {
        List<PromptChunk> chunks = chunk(sd1(), "(1) 2 BREAK [3]");
        assertEquals(2, chunks.size());
        assertArrayEquals(framed(EOS, 1, 2), chunks.get(0).tokens());
        assertArrayEquals(framed(EOS, 3), chunks.get(1).tokens());
        double[] w0 = ones();
        w0[1] = 1.1;
        double[] w1 = ones();
        w1[1] = 1 / 1.1;
        assertArrayEquals(w0, chunks.get(0).weights());
        assertArrayEquals(w1, chunks.get(1).weights());
    }

    @Test
    void breakEdgeCases() {
        // A leading BREAK closes an empty chunk: one all-padding chunk, then the text.
        assertEquals(List.of(new PromptChunk(framed(EOS), ones()), new PromptChunk(framed(EOS, 1), ones())),
                chunk(sd1(), "BREAK 1"));
        // A trailing BREAK adds nothing after it.
        assertEquals(List.of(new PromptChunk(framed(EOS, 1), ones())), chunk(sd1(), "1 BREAK"));
        // BREAK right after a full chunk closes that chunk; no empty chunk in between.
        List<PromptChunk> full = chunk(sd1(), ids(1, 75) + " BREAK 76");
        assertEquals(2, full.size());
        assertArrayEquals(framed(EOS, 76), full.get(1).tokens());
        // Two BREAKs in a row leave an empty chunk between them.
        assertEquals(3, chunk(sd1(), "1 BREAK BREAK 2").size());
    }

    @Test
    void breakResetsTheCommaMemory() {
        // A comma at index 55 of chunk 1, then BREAK, then 101..176 (76 tokens). Were the comma remembered, chunk 2
        // would be cut after its index 55 (75 - 55 = 20); A1111 resets it, so chunk 2 is 101..175 whole.
        List<PromptChunk> chunks = chunk(sd1(), ids(1, 55) + " , BREAK " + ids(101, 176));
        assertEquals(3, chunks.size());
        assertArrayEquals(framed(EOS, concat(range(1, 55), COMMA)), chunks.get(0).tokens());
        assertArrayEquals(framed(EOS, range(101, 175)), chunks.get(1).tokens());
        assertArrayEquals(framed(EOS, 176), chunks.get(2).tokens());
    }
}
