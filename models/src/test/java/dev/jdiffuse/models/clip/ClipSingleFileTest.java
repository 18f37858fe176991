package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code single_file_sd1}: the SD1 text encoder read from an original LDM checkpoint through {@link ClipTextKeys}
 * equals the one read from the diffusers folder {@code pipeline_sd1/model/text_encoder}.
 */
class ClipSingleFileTest {

    private static final String SINGLE = "single_file_sd1";
    private static final String PIPELINE = "pipeline_sd1/model";

    @Test
    void singleFileSd1TextEncoderEqualsDiffusersFolder() {
        Path single = Fixtures.require(SINGLE);
        Path model = Fixtures.require(PIPELINE);
        Path folder = model.resolve("text_encoder");
        String name = Fixtures.displayName(single) + " text encoder vs " + Fixtures.displayName(folder);
        ClipTextConfig config = ClipTextConfig.read(folder.resolve("config.json"));
        ClipTokenizer tokenizer = ClipTokenizer.load(model.resolve("tokenizer"));
        int[][] ids = {tokenizer.encodePadded("a photo of an astronaut riding a horse"), tokenizer.encodePadded("")};
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager();
                SafetensorsStateDict checkpoint = SafetensorsStateDict.open(single.resolve(
                        Fixtures.json(single.resolve("meta.json")).get("file").asText()))) {
            StateDict clipPart = checkpoint.renamed(ClipTextKeys::fromSingleFile);
            ClipTextModel fromSingle = ClipTextModel.loadSingleFile(config, checkpoint, weights, DataType.FLOAT32);
            Set<String> mapped = new HashSet<>(clipPart.keys());
            mapped.remove(ClipTextKeys.POSITION_IDS);
            assertEquals(fromSingle.namedParameters().keySet(), mapped, "single-file keys map onto the model exactly");

            ClipTextModel fromFolder = ClipTextModel.load(folder, weights, DataType.FLOAT32);
            ClipTextOutput a = fromSingle.encode(step, ids);
            ClipTextOutput b = fromFolder.encode(step, ids);
            double last = compare(name + " last_hidden_state", b.lastHiddenState(), a.lastHiddenState());
            double penult = compare(name + " penultimate", b.penultimate(), a.penultimate());
            double pooled = compare(name + " pooled", b.pooled(), a.pooled());
            Close.report(String.format("%s: max|diff|/max|ref| last %.3e, penultimate %.3e, pooled %.3e", name,
                    last, penult, pooled));
        }
    }

    private static double compare(String what, NDArray expected, NDArray actual) {
        return Close.assertMaxAbsRelative(what, Close.toDouble(expected.toFloatArray()),
                Close.toDouble(actual.toFloatArray()), 1e-6);
    }
}
