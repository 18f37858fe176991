package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code controlnet_*} fixtures: the ControlNet's down and mid residuals (already scaled by the meta.json
 * conditioning scale), and the UNet output with those residuals added.
 */
class ControlNetParityTest {

    @TestFactory
    List<DynamicTest> controlNetCases() {
        return FixtureIo.eachCaseOfKind("controlnet", "controlnet_sd1", ControlNetParityTest::check);
    }

    private static void check(String name, Path dir, NDManager weights, FixtureIo io) {
        float scale = (float) Fixtures.meta(dir).path("conditioning_scale").asDouble(Double.NaN);
        ControlNetModel controlnet = ControlNetModel.load(dir.resolve("controlnet"), weights, DataType.FLOAT32);
        UNet2DConditionModel unet = UNet2DConditionModel.load(dir.resolve("unet"), weights, DataType.FLOAT32);
        NDArray sample = io.array("sample");
        NDArray context = io.array("encoder_hidden_states");
        double[] t = io.doubles("timestep");
        ControlNetOutput residuals = controlnet.forward(sample, t, context, io.array("controlnet_cond"), scale,
                UNetExtras.NONE);
        List<String> refs = new ArrayList<>();
        for (int i = 0; io.has("down_block_res_samples." + i); i++) {
            refs.add("down_block_res_samples." + i);
        }
        org.junit.jupiter.api.Assertions.assertEquals(refs.size(), residuals.down().size(), "residual count");
        double worstDown = 0;
        for (int i = 0; i < refs.size(); i++) {
            worstDown = Math.max(worstDown, io.check(name + " " + refs.get(i), refs.get(i),
                    residuals.down().get(i)));
        }
        double mid = io.check(name + " mid_block_res_sample", "mid_block_res_sample", residuals.mid());
        NDArray out = unet.forward(sample, t, context, UNetExtras.NONE.withControl(residuals.down(),
                residuals.mid()));
        double unetErr = io.check(name + " unet_out", "unet_out", out);
        Close.report(String.format("%s: worst down residual %.3e, mid %.3e, unet_out %.3e (max|diff|/max|ref|)",
                name, worstDown, mid, unetErr));
    }
}
