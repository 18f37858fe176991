package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.models.pipeline.sd3.Sd3Loader;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AUTOMATIC1111's prompt syntax through the real SD 1 fixture pipeline: text past 75 tokens reaches the image, weights
 * change it, weight 1 and the plain syntax change nothing, clip skip picks another layer; SD3 refuses what it does not
 * apply, naming the field.
 */
class PromptSyntaxPipelineTest {

    static DiffusionPipeline sd1;

    @BeforeAll
    static void open() {
        sd1 = SdLoader.openFolder(Fixtures.require("pipeline_sd1/model"), "sd1", LoadOptions.cpu());
    }

    @AfterAll
    static void close() {
        if (sd1 != null) {
            sd1.close();
        }
    }

    private static float[] pixels(GenerationRequest r) {
        return PipelineRuns.pixels(sd1, r);
    }

    private static GenerationRequest request(String prompt) {
        return GenerationRequest.of(prompt, "", 64, 64, 2, 5.0, 11).withSampler("euler", "default");
    }


    @Test
    void textPastTheFirst75TokensChangesTheImage() {
        // 80 words of at least one token each: a 77-token window holds the same first 75 tokens of both prompts
        String first = "red ".repeat(80).strip();
        float[] truncated = pixels(request(first));
        float[] longer = pixels(request(first + ", a blue sports car, neon, cyberpunk"));
        assertTrue(maxAbs(truncated, longer) > 1e-3, "the second chunk reaches the UNet: " + maxAbs(truncated, longer));
    }

    @Test
    void aLongNegativePromptIsReadWholeAndTheShortPromptPaddedToIt() {
        String first = "blurry ".repeat(80).strip();
        float[] shortNegative = pixels(negative(first));
        float[] longNegative = pixels(negative(first + ", low quality, jpeg artifacts, watermark"));
        assertTrue(maxAbs(shortNegative, longNegative) > 1e-3, "the negative prompt's second chunk counts too");
    }

    private static GenerationRequest negative(String negativePrompt) {
        return new GenerationRequest("a red apple", negativePrompt, 64, 64, 2, "euler", "default", 5.0, 0, 11, 1,
                null, List.of(), PreviewSpec.NONE, null, null);
    }

    @Test
    void weightsChangeTheImageAndWeightOneOrThePlainSyntaxChangeNothing() {
        float[] plain = pixels(request("a red apple on a table"));
        assertArrayEquals(plain, pixels(request("a red apple on a table").withPromptSyntax(PromptSyntax.PLAIN)), 0f,
                "no emphasis: the A1111 reading is the text itself");
        assertArrayEquals(plain, pixels(request("a red (apple:1) on a table")), 0f,
                "weight 1 is the identity and splitting at word boundaries keeps the tokens");
        float[] weighted = pixels(request("a red (apple:1.5) on a table"));
        assertTrue(maxAbs(plain, weighted) > 1e-3, "(apple:1.5) changes the conditioning: " + maxAbs(plain, weighted));
        float[] literal = pixels(request("a red (apple:1.5) on a table").withPromptSyntax(PromptSyntax.PLAIN));
        assertTrue(maxAbs(literal, weighted) > 1e-3 && maxAbs(literal, plain) > 1e-3,
                "the plain syntax encodes the brackets as text");
    }

    @Test
    void clipSkipTakesAnEarlierLayerWithinTheEncodersDepth() {
        float[] last = pixels(request("a red apple"));
        float[] skip2 = pixels(request("a red apple").withClipSkip(2));
        assertTrue(maxAbs(last, skip2) > 1e-3, "clip skip 2 conditions on the penultimate layer");
        int layers = 3; // pipeline_sd1's text_encoder/config.json num_hidden_layers
        assertEquals(List.of(), sd1.check(request("x").withClipSkip(layers)));
        List<FieldError> refused = sd1.check(request("x").withClipSkip(layers + 1));
        assertEquals("clip_skip", refused.get(0).field());
    }

    @Test
    void sd3RefusesWeightsAndClipSkipNamingTheField() {
        try (DiffusionPipeline sd3 = Sd3Loader.openFolder(Fixtures.require("pipeline_sd3/model"), "pipeline_sd3",
                LoadOptions.cpu())) {
            GenerationRequest r = GenerationRequest.of("a (lighthouse:1.5)", "", 64, 64, 2, 5.0, 1);
            assertEquals("prompt", sd3.check(r).get(0).field());
            GenerationRequest neg = new GenerationRequest("a lighthouse", "[blurry]", 64, 64, 2, null, null, 5.0, 0,
                    1, 1, null, List.of(), PreviewSpec.NONE, null, null);
            assertEquals("negative_prompt", sd3.check(neg).get(0).field());
            assertEquals("clip_skip", sd3.check(GenerationRequest.of("a lighthouse", "", 64, 64, 2, 5.0, 1)
                    .withClipSkip(2)).get(0).field());
            assertEquals(List.of(), sd3.check(r.withPromptSyntax(PromptSyntax.PLAIN)), "brackets as text");
            assertEquals(List.of(), sd3.check(GenerationRequest.of("a \\(lighthouse\\)", "", 64, 64, 2, 5.0, 1)),
                    "escaped brackets are text");
        }
    }
}
