package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code single_file_sd1}: the VAE of the LDM-named single file (1x1-conv attention projections, reversed decoder
 * levels) loads with no missing or unexpected key and computes exactly what the diffusers folder
 * {@code pipeline_sd1/model/vae} computes; so does a folder state dict with diffusers' deprecated attention names.
 */
class SingleFileVaeTest {

    private static final String SINGLE = "single_file_sd1";
    private static final String FOLDER = "pipeline_sd1/model/vae";
    private static final double EXACT = 1e-6;

    @TestFactory
    List<DynamicTest> singleFile() {
        return Fixtures.withCase(SINGLE, single -> Fixtures.withCase(FOLDER, folder -> {
            String name = Fixtures.displayName(single);
            return List.of(
                    DynamicTest.dynamicTest(name + " VAE (first_stage_model.*) matches " + FOLDER,
                            () -> singleFileMatchesFolder(single, folder, name)),
                    DynamicTest.dynamicTest(FOLDER + " with deprecated query/key/value/proj_attn names",
                            () -> deprecatedNamesMatchFolder(folder)));
        }));
    }

    private static void singleFileMatchesFolder(Path single, Path folder, String name) {
        String file = Fixtures.meta(single).get("file").asText();
        AutoencoderKLConfig config = AutoencoderKLConfig.read(folder.resolve("config.json"));
        try (NDManager weights = NDManager.newBaseManager();
                SafetensorsStateDict checkpoint = SafetensorsStateDict.open(single.resolve(file))) {
            assertTrue(checkpoint.keys().stream().anyMatch(k -> k.matches(".*mid\\.attn_1\\.q\\.weight")
                    && checkpoint.shape(k).length == 4), "the LDM file stores attention projections as 1x1 convs");
            AutoencoderKL fromSingle = AutoencoderKL.loadSingleFile(config, checkpoint, weights, DataType.FLOAT32);
            AutoencoderKL fromFolder = AutoencoderKL.load(folder, weights, DataType.FLOAT32);
            compareModels(name + " single-file", fromFolder, fromSingle, weights);
        }
    }

    private static void deprecatedNamesMatchFolder(Path folder) {
        Map<String, String> old = Map.of("to_q", "query", "to_k", "key", "to_v", "value", "to_out.0", "proj_attn");
        AutoencoderKLConfig config = AutoencoderKLConfig.read(folder.resolve("config.json"));
        try (NDManager weights = NDManager.newBaseManager();
                SafetensorsStateDict current = SafetensorsStateDict.open(
                        folder.resolve("diffusion_pytorch_model.safetensors"))) {
            StateDict deprecated = current.renamed(k -> {
                for (Map.Entry<String, String> e : old.entrySet()) {
                    k = k.replace(".attentions.0." + e.getKey() + ".", ".attentions.0." + e.getValue() + ".");
                }
                return k;
            });
            assertTrue(deprecated.keys().stream().anyMatch(k -> k.contains(".proj_attn.")));
            AutoencoderKL fromOld = AutoencoderKL.load(config, deprecated, weights, DataType.FLOAT32);
            AutoencoderKL fromFolder = AutoencoderKL.load(config, current, weights, DataType.FLOAT32);
            compareModels(FOLDER + " deprecated names", fromFolder, fromOld, weights);
        }
    }

    /** Decodes random latents and encodes a random image with both models; they must agree to rounding. */
    private static void compareModels(String what, AutoencoderKL expected, AutoencoderKL actual, NDManager m) {
        AutoencoderKLConfig c = expected.config();
        int side = 4;
        Random rng = new Random(7);
        try (NDManager act = m.newSubManager()) {
            NDArray latents = act.create(gaussian(rng, 2 * c.latentChannels() * side * side),
                    new Shape(2, c.latentChannels(), side, side));
            int px = side * c.downscale();
            NDArray image = act.create(gaussian(rng, c.inChannels() * px * px), new Shape(1, c.inChannels(), px, px))
                    .tanh();
            double decodeErr = Close.assertMaxAbsRelative(what + " decode",
                    values(expected.decode(latents)), values(actual.decode(latents)), EXACT);
            double encodeErr = Close.assertMaxAbsRelative(what + " encode mean",
                    values(expected.encode(image).mean()), values(actual.encode(image).mean()), EXACT);
            Close.report(String.format("%s: decode %.3e, encode mean %.3e (relative to the folder VAE)", what,
                    decodeErr, encodeErr));
        }
    }

    private static float[] gaussian(Random rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    private static double[] values(NDArray a) {
        return Close.toDouble(a.toFloatArray());
    }
}
