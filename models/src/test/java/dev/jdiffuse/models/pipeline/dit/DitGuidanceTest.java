package dev.jdiffuse.models.pipeline.dit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.models.pipeline.ModelFamily;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseLevel;
import dev.jdiffuse.samplers.prediction.Network;
import dev.jdiffuse.samplers.prediction.PredictionType;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * DiT's guidance as the family builds it (the samplers' classifier-free guidance against the null class, over the
 * first {@code in_channels} output channels) against diffusers' formula {@code eps_u + s (eps_c - eps_u)} computed by
 * hand, and the class-name mapping of {@code id2label}.
 */
class DitGuidanceTest {

    private static final int NULL_CLASS = 5;

    /**
     * A learned-sigma network with C = 2 latent channels and 2C = 4 output channels: each row's output depends on its
     * label only (null class rows give {@code u}, class rows {@code c}, variance channels 100 and -7). At sigma 1 and
     * x = 0, the epsilon adapter gives {@code x0 = -eps}, so the guided x0 must be {@code -(u + s (c - u))} per row,
     * with the variance channels dropped.
     */
    @Test
    void guidanceOnFirstHalfOfChannelsAgainstTheNullClass() {
        float[][] cond = {{1, 2, 100, 100}, {3, 4, 100, 100}};
        float[][] uncond = {{0.5f, 1, -7, -7}, {5, 2, -7, -7}};
        double s = 4.0;
        Network raw = (x, t, c) -> {
            long[] labels = ((DitConditioning) c).labels();
            float[] out = new float[labels.length * 4];
            for (int b = 0; b < labels.length; b++) {
                float[] row = labels[b] == NULL_CLASS ? uncond[b % 2] : cond[b % 2];
                System.arraycopy(row, 0, out, b * 4, 4);
            }
            return DiTFamily.prediction(x.getManager().create(out, new Shape(labels.length, 4, 1, 1)), 2);
        };
        GenerationRequest r = request("", 1);
        ModelFamily.Prompts<DitConditioning> prompts = new ModelFamily.Prompts<>(
                new DitConditioning(new long[] {1, 1}), DitConditioning.repeated(NULL_CLASS, 2));
        Denoiser d = DiTFamily.denoiser(raw, PredictionType.EPSILON, prompts, r);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x0 = d.denoise(m.zeros(new Shape(2, 2, 1, 1)), new NoiseLevel(1.0, 999, 0, 1),
                    prompts.positive());
            float[] expected = {
                (float) -(0.5 + s * (1 - 0.5)), (float) -(1 + s * (2 - 1)),
                (float) -(5 + s * (3 - 5)), (float) -(2 + s * (4 - 2)),
            };
            assertEquals(new Shape(2, 2, 1, 1), x0.getShape());
            assertArrayEquals(expected, x0.toFloatArray(), 1e-6f);
        }
    }

    @Test
    void predictionKeepsAllChannelsWithoutLearnedSigma() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray out = m.create(new float[] {1, 2, 3, 4}, new Shape(1, 4, 1, 1));
            assertArrayEquals(new float[] {1, 2, 3, 4}, DiTFamily.prediction(out, 4).toFloatArray());
            assertArrayEquals(new float[] {1, 2}, DiTFamily.prediction(out, 2).toFloatArray());
        }
    }

    @Test
    void classesByIndexNameSynonymAndLabel() throws Exception {
        DitClassLabels labels = DitClassLabels.of(new ObjectMapper().readTree(
                "{\"0\": \"tench, Tinca tinca\", \"1\": \"goldfish, Carassius auratus\"}"), 5);
        assertEquals(List.of("Carassius auratus", "Tinca tinca", "goldfish", "tench"), labels.names());
        assertEquals(1, labels.resolve(request("goldfish", null)));
        assertEquals(1, labels.resolve(request("carassius AURATUS", null)));
        assertEquals(0, labels.resolve(request(" Tinca tinca ", null)));
        assertEquals(3, labels.resolve(request("3", null)));
        assertEquals(4, labels.resolve(request("goldfish", 4)));
        assertEquals(List.of(), labels.check(request("goldfish", 4)));
        assertEquals("prompt", refused(labels, request("unicorn", null)));
        assertEquals("prompt", refused(labels, request("5", null)));
        assertEquals("class_label", refused(labels, request("", -1)));
        assertEquals("prompt", refused(labels, request("  ", null)));
        assertEquals("class_label", labels.check(request("", 5)).get(0).field());
    }

    private static String refused(DitClassLabels labels, GenerationRequest r) {
        return assertThrows(InvalidRequestException.class, () -> labels.resolve(r)).first().field();
    }

    private static GenerationRequest request(String prompt, Integer label) {
        return new GenerationRequest(prompt, "", 64, 64, 2, null, null, 4.0, 0, 0, 1, label, List.of(), null, null, null, List.of(),
                null, null);
    }
}
