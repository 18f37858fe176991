package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.testkit.Close;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

/**
 * {@code unet_*} fixtures: diffusers' UNet2DConditionModel (F16 weights evaluated in fp32) on a 2-row batch with two
 * timesteps ({@code out}) and on row 0 alone with the scalar timestep 500 ({@code out_t500_first}).
 */
class UNetParityTest {

    @TestFactory
    List<DynamicTest> unetCases() {
        return FixtureIo.eachCaseOfKind("unet2d_condition", "unet_sd1", UNetParityTest::check);
    }

    private static void check(String name, Path dir, NDManager weights, FixtureIo io) {
        UNet2DConditionModel unet = UNet2DConditionModel.load(dir, weights, DataType.FLOAT32);
        NDArray sample = io.array("sample");
        NDArray context = io.array("encoder_hidden_states");
        UNetExtras extras = io.has("text_embeds")
                ? UNetExtras.sdxl(io.array("text_embeds"), io.array("time_ids")) : UNetExtras.NONE;
        double full = io.check(name + " out", "out", unet.forward(sample, io.doubles("timestep"), context, extras));
        UNetExtras first = io.has("text_embeds")
                ? UNetExtras.sdxl(extras.textEmbeds().get("0:1"), extras.timeIds().get("0:1")) : UNetExtras.NONE;
        double single = io.check(name + " out_t500_first", "out_t500_first",
                unet.forward(sample.get("0:1"), new double[] {500}, context.get("0:1"), first));
        Close.report(String.format("%s: out max|diff|/max|ref| = %.3e; out_t500_first %.3e", name, full, single));
    }
}
