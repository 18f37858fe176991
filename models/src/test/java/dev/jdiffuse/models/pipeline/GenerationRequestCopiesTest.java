package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.prompt.PromptSyntax;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Each {@code withX} copy of a request changes exactly the components it names and keeps every other one ({@code withLoras}
 * is left out: a LoRA needs a read file).
 */
class GenerationRequestCopiesTest {

    private static final GenerationRequest BASE = GenerationRequest.of("a lighthouse", "fog", 512, 384, 20, 6.5, 42);

    @Test
    void eachCopyChangesOnlyItsComponents() throws Exception {
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
        check(r -> r.withSampler("ddim", "karras"), "sampler", "schedule");
        check(r -> r.withControlnets(List.of(new ControlSpec("canny", img, 0.5, 0, 1))), "controlnets");
        check(r -> r.withPreview(new PreviewSpec(PreviewSpec.Method.RGB, 2, 256)), "preview");
        check(r -> r.withInit(new GenerationRequest.InitImage(img, 0.4)), "init");
        check(r -> r.withVariation(new GenerationRequest.Variation(7, 0.3)), "variation");
        check(r -> r.withInpaint(GenerationRequest.Inpaint.of(img)), "inpaint");
        check(r -> r.withHires(new GenerationRequest.Hires(1024, 768, 2, 10, 0.5, "latent")), "hires");
        check(r -> r.withSize(640, 448), "width", "height");
        check(r -> r.withSteps(9), "steps");
        check(r -> r.withClipSkip(2), "clipSkip");
        check(r -> r.withPromptSyntax(PromptSyntax.PLAIN), "promptSyntax");
        check(r -> r.withAesthetics(new GenerationRequest.Aesthetics(7, 2)), "aesthetics");
        check(r -> r.withTrueCfgScale(4), "trueCfgScale");
        check(r -> r.withNegativePrompt("haze"), "negativePrompt");
        check(r -> r.withDiscardPenultimateSigma(true), "discardPenultimateSigma");
        check(r -> r.withVaeTiling(new VaeTiling(VaeTiling.Mode.ALWAYS, 256)), "vaeTiling");
    }

    private static void check(UnaryOperator<GenerationRequest> copy, String... changed) throws Exception {
        GenerationRequest c = copy.apply(BASE);
        List<String> differing = new ArrayList<>();
        for (RecordComponent rc : GenerationRequest.class.getRecordComponents()) {
            if (!Objects.equals(rc.getAccessor().invoke(BASE), rc.getAccessor().invoke(c))) {
                differing.add(rc.getName());
            }
        }
        assertEquals(List.of(changed), differing);
    }
}
