package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one-call TorchScript forward ({@link TorchScriptUNet}) against the op-by-op forward through the Java modules
 * ({@code forwardComposite}), same weights and inputs, fp32 on the CPU: they run the same kernels in the same order,
 * so they agree to float32 rounding (1e-5 of the output's largest magnitude).
 */
class TorchScriptUNetTest {

    private static final double TOLERANCE = 1e-5;

    @TestFactory
    List<DynamicTest> agreesWithTheCompositeForwardOnEveryUNetFixture() {
        return FixtureIo.eachCaseOfKind("unet2d_condition", "unet_sd1", TorchScriptUNetTest::check);
    }

    private static void check(String name, Path dir, NDManager weights, FixtureIo io) {
        UNet2DConditionModel unet = UNet2DConditionModel.load(dir, weights, DataType.FLOAT32);
        assertTrue(unet.scriptedForward(), name + ": the scripted forward is available");
        NDArray sample = io.array("sample");
        TextContext context = TextContext.of(io.array("encoder_hidden_states"));
        UNetExtras extras = io.has("text_embeds")
                ? UNetExtras.sdxl(io.array("text_embeds"), io.array("time_ids")) : UNetExtras.NONE;
        double[] perRow = io.doubles("timestep");
        assertNotEquals(perRow[0], perRow[1], "the fixture's rows have different timesteps");
        double a = compare(name + " per-row timesteps", unet, sample, perRow, context, extras);
        double b = compare(name + " one timestep", unet, sample, new double[] {500}, context, extras);
        // the same context again: its projected keys and values are reused, the result must not change
        double c = compare(name + " context reused", unet, sample, perRow, context, extras);
        Close.report(String.format("%s: scripted vs composite max|diff|/max|ref| = %.2e, %.2e, %.2e", name, a, b, c));
    }

    private static double compare(String what, UNet2DConditionModel unet, NDArray sample, double[] t,
            TextContext context, UNetExtras extras) {
        NDArray ref = unet.forwardComposite(sample, t, context, extras);
        NDArray got = unet.forward(sample, t, context, extras);
        org.junit.jupiter.api.Assertions.assertEquals(ref.getShape(), got.getShape(), what);
        return Close.assertMaxAbsRelative(what, Close.toDouble(ref.toFloatArray()), Close.toDouble(got.toFloatArray()),
                TOLERANCE);
    }

    @Test
    void addsControlNetResidualsAsTheCompositeForwardDoes() {
        Path dir = Fixtures.require("controlnet_sd1");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                FixtureIo io = new FixtureIo(dir, act)) {
            ControlNetModel controlnet = ControlNetModel.load(dir.resolve("controlnet"), weights, DataType.FLOAT32);
            UNet2DConditionModel unet = UNet2DConditionModel.load(dir.resolve("unet"), weights, DataType.FLOAT32);
            assertTrue(unet.scriptedForward());
            NDArray sample = io.array("sample");
            TextContext context = TextContext.of(io.array("encoder_hidden_states"));
            double[] t = io.doubles("timestep");
            ControlNetOutput r = controlnet.forward(sample, t, context, io.array("controlnet_cond"), 0.8f,
                    UNetExtras.NONE);
            UNetExtras extras = UNetExtras.NONE.withControl(r.down(), r.mid());
            double err = compare("controlnet_sd1 with residuals", unet, sample, t, context, extras);
            // the residuals change the output (so the comparison above covers them)
            NDArray without = unet.forward(sample, t, context, UNetExtras.NONE);
            NDArray with = unet.forward(sample, t, context, extras);
            assertTrue(with.sub(without).abs().max().getFloat() > 1e-3f, "residuals are added");
            Close.report(String.format("controlnet_sd1: scripted vs composite %.2e", err));
        }
    }

    @Test
    void oddLatentSizesUpsampleToTheSkipSizes() {
        withSd1Unet((unet, act) -> compare("9x11 latent", unet, latents(unet, act, 2, 9, 11), new double[] {10, 700},
                TextContext.of(context(unet, act, 2)), UNetExtras.NONE));
    }

    /**
     * From {@link UNetScriptSource#SPLIT_GEGLU_ROWS} rows the feed-forwards take their halves from two linears: the
     * batch agrees with the composite forward, and its first rows with the same rows run as a small batch (chunk).
     */
    @Test
    void aLargeBatchTakesTheSplitFeedForwardAndAgreesWithSmallBatches() {
        withSd1Unet((unet, act) -> {
            int rows = UNetScriptSource.SPLIT_GEGLU_ROWS;
            NDArray sample = latents(unet, act, rows, 8, 8);
            NDArray hidden = context(unet, act, rows);
            double[] t = new double[rows];
            for (int i = 0; i < rows; i++) {
                t[i] = 50 + 110 * i;
            }
            compare(rows + " rows", unet, sample, t, TextContext.of(hidden), UNetExtras.NONE);
            float[] large = unet.forward(sample, t, TextContext.of(hidden), UNetExtras.NONE).get("0:2").toFloatArray();
            float[] small = unet.forward(sample.get("0:2"), new double[] {t[0], t[1]},
                    TextContext.of(hidden.get("0:2")), UNetExtras.NONE).toFloatArray();
            Close.assertMaxAbsRelative("rows 0-1 in a batch of " + rows + " and alone", Close.toDouble(small),
                    Close.toDouble(large), TOLERANCE);
        });
    }

    /**
     * A 1280-wide level with cross-attention at a 4x4 latent size, as SD 1.5's third level at a 16x16 latent: the
     * op-by-op path used to hand proj_out a permuted (channels-last) view, and PyTorch's CPU kernels after it gave
     * results that depended on the number of intra-op threads (2.1e-2 to 6.7e-2 of the output's largest value away from
     * the scripted path with two threads, 1e-6 with one). Random weights (std 1/sqrt(3 fan_in)), about 600 MB.
     */
    @Test
    void theOpByOpPathAgreesAtA1280WideAttentionLevel() {
        ObjectNode c = new ObjectMapper().createObjectNode().put("sample_size", 16).put("cross_attention_dim", 32)
                .put("attention_head_dim", 8).put("layers_per_block", 1).put("mid_block_type", "UNetMidBlock2D");
        c.putArray("block_out_channels").add(32).add(64).add(1280).add(32);
        c.putArray("down_block_types").add("DownBlock2D").add("CrossAttnDownBlock2D").add("CrossAttnDownBlock2D")
                .add("DownBlock2D");
        c.putArray("up_block_types").add("UpBlock2D").add("CrossAttnUpBlock2D").add("CrossAttnUpBlock2D")
                .add("UpBlock2D");
        UNet2DConditionConfig cfg = UNet2DConditionConfig.from(ConfigJson.of("1280-wide level", c));
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            weights.getEngine().setRandomSeed(7);
            UNet2DConditionModel unet = UNet2DConditionModel.load(cfg, randomWeights(new UNet2DConditionModel(cfg)),
                    weights, DataType.FLOAT32, "random");
            compare("1280-wide level, 16x16 latent", unet, latents(unet, act, 1, 16, 16), new double[] {999},
                    TextContext.of(context(unet, act, 1)), UNetExtras.NONE);
        }
    }

    /** Random weights for {@code model}'s parameters: std 1/sqrt(3 fan_in) for matrices and kernels, norms 1, biases 0. */
    private static dev.jdiffuse.models.nn.StateDict randomWeights(UNet2DConditionModel model) {
        java.util.Map<String, Parameter> own = model.namedParameters();
        return new dev.jdiffuse.models.nn.StateDict() {
            @Override
            public java.util.Set<String> keys() {
                return own.keySet();
            }

            @Override
            public long[] shape(String key) {
                return own.get(key).shape().getShape();
            }

            @Override
            public NDArray load(String key, NDManager manager, DataType dtype) {
                Shape s = own.get(key).shape();
                if (s.dimension() > 1) {
                    return manager.randomNormal(0f, (float) (1 / Math.sqrt(3.0 * (s.size() / s.get(0)))), s, dtype);
                }
                return key.endsWith("weight") && key.contains("norm") ? manager.ones(s, dtype) : manager.zeros(s, dtype);
            }
        };
    }

    /** LoRA patching replaces parameter arrays: the next forward must use the new ones, and the old ones again after. */
    @Test
    void followsReplacedWeights() {
        withSd1Unet((unet, act) -> {
            NDArray sample = latents(unet, act, 1, 8, 8);
            NDArray hidden = context(unet, act, 1);
            double[] t = {300};
            float[] before = unet.forward(sample, t, TextContext.of(hidden), UNetExtras.NONE).toFloatArray();
            // a cross-attention key projection: also checks that the context's projections follow the weights
            Parameter p = unet.namedParameters().get("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight");
            Parameter q = unet.namedParameters().get("conv_in.weight");
            NDArray baseP = p.replace(p.get().mul(3f));
            NDArray baseQ = q.replace(q.get().mul(0.5f));
            TextContext context = TextContext.of(hidden);
            float[] patched = unet.forward(sample, t, context, UNetExtras.NONE).toFloatArray();
            Close.assertMaxAbsRelative("patched weights", Close.toDouble(
                    unet.forwardComposite(sample, t, context, UNetExtras.NONE).toFloatArray()),
                    Close.toDouble(patched), TOLERANCE);
            assertTrue(Close.maxAbs(diff(before, patched)) > 1e-3, "the patch changes the output");
            p.replace(baseP);
            q.replace(baseQ);
            float[] after = unet.forward(sample, t, TextContext.of(hidden), UNetExtras.NONE).toFloatArray();
            Close.assertMaxAbsRelative("restored weights", Close.toDouble(before), Close.toDouble(after), TOLERANCE);
        });
    }

    /** The SD 1.x fixture UNet in fp32, and a manager for the test's activations. */
    private static void withSd1Unet(java.util.function.BiConsumer<UNet2DConditionModel, NDManager> test) {
        Path dir = Fixtures.require("unet_sd1");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            test.accept(UNet2DConditionModel.load(dir, weights, DataType.FLOAT32), act);
        }
    }

    /** Random latents [rows, in_channels, h, w]. */
    private static NDArray latents(UNet2DConditionModel unet, NDManager act, int rows, int h, int w) {
        return act.randomNormal(new Shape(rows, unet.config().inChannels(), h, w));
    }

    /** A random text context [rows, 77, cross_attention_dim]. */
    private static NDArray context(UNet2DConditionModel unet, NDManager act, int rows) {
        return act.randomNormal(new Shape(rows, 77, unet.config().crossAttentionDim().get(0)));
    }

    private static double[] diff(float[] a, float[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }
}
