package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Random;

/**
 * {@code single_file_sd1}: the UNet part of an original-LDM single-file checkpoint, renamed by {@link LdmUnetKeys},
 * loads with no missing/unexpected key (the loader would throw) and computes the same as the diffusers folder
 * {@code pipeline_sd1/model/unet} it was converted from.
 */
class SingleFileUNetTest {

    @Test
    void singleFileSd1MatchesDiffusersFolder() {
        Path single = Fixtures.require("single_file_sd1");
        Path folder = Fixtures.require("pipeline_sd1/model/unet");
        String file = Fixtures.meta(single).path("file").asText("sd1-tiny.safetensors");
        UNet2DConditionConfig config = UNet2DConditionConfig.read(folder.resolve("config.json"));
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsStateDict checkpoint = SafetensorsStateDict.open(single.resolve(file))) {
            UNet2DConditionModel fromLdm = UNet2DConditionModel.loadLdm(config, checkpoint, weights,
                    DataType.FLOAT32, single.toString());
            UNet2DConditionModel fromFolder = UNet2DConditionModel.load(folder, weights, DataType.FLOAT32);
            Random rnd = new Random(42);
            int size = config.sampleSize() > 0 ? config.sampleSize() : 16;
            NDArray sample = gaussian(act, rnd, new Shape(2, config.inChannels(), size, size));
            NDArray context = gaussian(act, rnd, new Shape(2, 77, config.crossAttentionDim().get(0)));
            double[] t = {901, 37};
            float[] expected = fromFolder.forward(sample, t, context, UNetExtras.NONE).toFloatArray();
            float[] actual = fromLdm.forward(sample, t, context, UNetExtras.NONE).toFloatArray();
            double err = Close.assertMaxAbsRelative("single_file_sd1 vs pipeline_sd1/model/unet",
                    Close.toDouble(expected), Close.toDouble(actual), 1e-6);
            Close.report(String.format("single_file_sd1: LDM-key UNet vs diffusers folder max|diff|/max|ref| = %.3e",
                    err));
        }
    }

    private static NDArray gaussian(NDManager m, Random rnd, Shape shape) {
        float[] v = new float[(int) shape.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return m.create(v, shape);
    }
}
