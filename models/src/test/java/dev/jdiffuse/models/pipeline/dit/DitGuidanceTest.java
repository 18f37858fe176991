package dev.jdiffuse.models.pipeline.dit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.pipeline.GenerationException;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** diffusers' DiT guidance formula against a hand computation, and the class-name mapping of {@code id2label}. */
class DitGuidanceTest {

    /**
     * Output [2B=4, 2C=4, 1, 1] (C = 2 latent channels, learned sigma): rows 0-1 conditional, rows 2-3 null class.
     * Expected: {@code u + s (c - u)} on channels 0..1 only; channels 2..3 (variance) dropped.
     */
    @Test
    void guidanceOnFirstHalfOfChannelsCondRowsFirst() {
        float[] out = {
            1, 2, 100, 100, // cond row 0: eps (1, 2), variance (100, 100)
            3, 4, 100, 100, // cond row 1
            0.5f, 1, -7, -7, // null row 0
            5, 2, -7, -7, // null row 1
        };
        double s = 4.0;
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray guided = DitGuidedNetwork.guide(m.create(out, new Shape(4, 4, 1, 1)), 2, s);
            float[] expected = {
                (float) (0.5 + s * (1 - 0.5)), (float) (1 + s * (2 - 1)),
                (float) (5 + s * (3 - 5)), (float) (2 + s * (4 - 2)),
            };
            assertEquals(new Shape(2, 2, 1, 1), guided.getShape());
            assertArrayEquals(expected, guided.toFloatArray(), 1e-6f);
        }
    }

    @Test
    void predictionKeepsAllChannelsWithoutLearnedSigma() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray out = m.create(new float[] {1, 2, 3, 4}, new Shape(1, 4, 1, 1));
            assertArrayEquals(new float[] {1, 2, 3, 4}, DitGuidedNetwork.prediction(out, 4).toFloatArray());
            assertArrayEquals(new float[] {1, 2}, DitGuidedNetwork.prediction(out, 2).toFloatArray());
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
        assertEquals("prompt", assertThrows(GenerationException.class,
                () -> labels.resolve(request("unicorn", null))).field());
        assertEquals("prompt", assertThrows(GenerationException.class,
                () -> labels.resolve(request("5", null))).field());
        assertEquals("classLabel", assertThrows(GenerationException.class,
                () -> labels.resolve(request("", -1))).field());
        assertEquals("prompt", assertThrows(GenerationException.class,
                () -> labels.resolve(request("  ", null))).field());
    }

    private static GenerationRequest request(String prompt, Integer label) {
        GenerationRequest r = GenerationRequest.of(prompt, "", 64, 64, 2, 4.0, 0);
        return new GenerationRequest(r.prompt(), "", 64, 64, 2, null, null, 4.0, 0, 0, 1, label, List.of(), null);
    }
}
