package dev.jdiffuse.models.unet;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Behaviour beyond the parity fixtures: odd latent sizes, and forward passes that leave the weights' manager alone. */
class UNetRuntimeTest {

    @Test
    void oddLatentSizesUpsampleToTheSkipSizes() {
        Path dir = Fixtures.require("unet_sd1");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(dir, weights, DataType.FLOAT32);
            UNet2DConditionConfig c = unet.config();
            NDArray sample = act.randomNormal(new Shape(1, c.inChannels(), 9, 11));
            NDArray context = act.randomNormal(new Shape(1, 77, c.crossAttentionDim().get(0)));
            NDArray out = unet.forward(sample, new double[] {10}, context, UNetExtras.NONE);
            assertEquals(new Shape(1, c.outChannels(), 9, 11), out.getShape());
            for (float v : out.toFloatArray()) {
                assertTrue(Float.isFinite(v));
            }
        }
    }

    @Test
    void forwardAllocatesOnlyInTheActivationManager() {
        Path dir = Fixtures.require("unet_sdxl");
        try (NDManager weights = NDManager.newBaseManager()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(dir, weights, DataType.FLOAT32);
            runOnce(unet); // first call caches the reshaped weight views
            int cached = ((BaseNDManager) weights).getManagedArrays().size();
            runOnce(unet);
            runOnce(unet);
            assertEquals(cached, ((BaseNDManager) weights).getManagedArrays().size());
        }
    }

    private static void runOnce(UNet2DConditionModel unet) {
        UNet2DConditionConfig c = unet.config();
        try (NDManager act = NDManager.newBaseManager()) {
            NDArray sample = act.randomNormal(new Shape(2, c.inChannels(), 8, 8));
            NDArray context = act.randomNormal(new Shape(2, 77, c.crossAttentionDim().get(0)));
            int pooled = c.projectionClassEmbeddingsInputDim() - 6 * c.additionTimeEmbedDim();
            NDArray textEmbeds = act.randomNormal(new Shape(2, pooled));
            NDArray timeIds = act.create(new float[] {64, 64, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64}, new Shape(2, 6));
            unet.forward(sample, new double[] {500}, context, UNetExtras.sdxl(textEmbeds, timeIds));
        }
    }
}
