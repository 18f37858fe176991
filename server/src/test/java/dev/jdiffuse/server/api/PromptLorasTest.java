package dev.jdiffuse.server.api;

import dev.jdiffuse.server.web.ApiException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** AUTOMATIC1111's {@code <lora:name:multiplier>} tags: cut from the text, read in order, refused when ambiguous. */
class PromptLorasTest {

    @Test
    void tagsAreCutFromThePromptInOrder() {
        PromptLoras.Parsed p = PromptLoras.parse("a fox <lora:paper cut:0.8>, <lyco:ink>in snow <hypernet:x:1>");
        assertEquals("a fox , in snow <hypernet:x:1>", p.prompt(), "other extra networks are left as text");
        assertEquals(List.of(new PromptLoras.Tag("paper cut", 0.8), new PromptLoras.Tag("ink", 1.0)), p.tags());
        assertEquals("plain", PromptLoras.parse("plain").prompt());
        assertEquals(List.of(new PromptLoras.Tag("neg", -0.5)), PromptLoras.parse("<lora:neg:-0.5>").tags());
    }

    @Test
    void separateMultipliersAndNonNumbersAreRefusedOnThePrompt() {
        for (String bad : List.of("x <lora:a:0.8:0.3>", "x <lora:a:te=0.5>", "x <lora:a:lots>")) {
            ApiException e = assertThrows(ApiException.class, () -> PromptLoras.parse(bad), bad);
            assertEquals("prompt", e.body().error().field(), bad);
        }
    }
}
