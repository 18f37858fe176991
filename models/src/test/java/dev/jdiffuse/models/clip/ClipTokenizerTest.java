package dev.jdiffuse.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Parity with transformers' CLIPTokenizer on every {@code tokenizer_clip} case, through both file layouts. */
class ClipTokenizerTest {

    private static final String CASE = "tokenizer_clip";

    @TestFactory
    List<DynamicTest> everyCaseBothLayouts() {
        return Fixtures.withCase(CASE, ClipTokenizerTest::everyCaseBothLayouts);
    }

    private static List<DynamicTest> everyCaseBothLayouts(Path dir) {
        Path tok = dir.resolve("tokenizer");
        ClipSpecialTokens specials = ClipSpecialTokens.read(tok);
        List<Layout> layouts = List.of(
                new Layout("vocab+merges", () -> ClipTokenizer.fromVocabAndMerges(tok.resolve("vocab.json"),
                        tok.resolve("merges.txt"), specials)),
                new Layout("tokenizer.json", () -> ClipTokenizer.fromTokenizerJson(tok.resolve("tokenizer.json"),
                        specials)),
                new Layout("folder", () -> ClipTokenizer.load(tok)));
        JsonNode cases = Fixtures.json(dir.resolve("meta.json")).get("cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (Layout layout : layouts) {
            ClipTokenizer[] once = new ClipTokenizer[1];
            for (int i = 0; i < cases.size(); i++) {
                JsonNode c = cases.get(i);
                String name = Fixtures.displayName(dir) + " case " + i + " [" + layout.name + "] "
                        + abbreviate(c.get("text").asText());
                tests.add(DynamicTest.dynamicTest(name, () -> {
                    if (once[0] == null) {
                        once[0] = layout.make.get();
                    }
                    ClipTokenizer t = once[0];
                    String text = c.get("text").asText();
                    int[] raw = ints(c.get("ids_raw"));
                    int[] padded = ints(c.get("ids_padded_77"));
                    assertArrayEquals(raw, t.encode(text), "ids_raw of '" + text + "'");
                    assertArrayEquals(padded, t.encodePadded(text, padded.length), "ids_padded of '" + text + "'");
                    assertEquals(padded.length, t.encodePadded(text).length, "model_max_length");
                    Close.report(name + ": ids identical (" + raw.length + " raw ids)");
                }));
            }
        }
        return tests;
    }

    private record Layout(String name, java.util.function.Supplier<ClipTokenizer> make) {
    }

    private static int[] ints(JsonNode a) {
        return StreamSupport.stream(a.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    private static String abbreviate(String s) {
        return s.length() > 30 ? s.substring(0, 30) + "..." : s;
    }

}
