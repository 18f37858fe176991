package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one-call TorchScript ControlNet forward ({@link TorchScriptControlNet}) against the op-by-op forward through the
 * Java modules ({@code forwardComposite}), same weights and inputs, fp32 on the CPU: every residual within 1e-5 of its
 * largest magnitude. The fixture ControlNet is SD 1.x-shaped; an SDXL-shaped one (text_time, linear projections) is
 * built from the SDXL fixture UNet's encoder, as diffusers' {@code ControlNetModel.from_unet} does, with random control
 * embedding and zero convolutions.
 */
class TorchScriptControlNetTest {

    private static final double TOLERANCE = 1e-5;

    @Test
    void agreesWithTheCompositeForwardOnTheFixture() {
        Path dir = Fixtures.require("controlnet_sd1");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                FixtureIo io = new FixtureIo(dir, act)) {
            ControlNetModel controlnet = ControlNetModel.load(dir.resolve("controlnet"), weights, DataType.FLOAT32);
            NDArray sample = io.array("sample");
            TextContext context = TextContext.of(io.array("encoder_hidden_states"));
            NDArray cond = io.array("controlnet_cond");
            double[] t = io.doubles("timestep");
            compare("per-row timesteps, scale 1", controlnet, sample, t, context, cond, 1f, UNetExtras.NONE);
            compare("one timestep, scale 0.6", controlnet, sample, new double[] {321}, context, cond, 0.6f,
                    UNetExtras.NONE);
            // the same context again: its projections are reused
            compare("context reused", controlnet, sample, t, context, cond, 1f, UNetExtras.NONE);
            assertTrue(controlnet.scriptedForward(), "the scripted forward is available");
        }
    }

    @Test
    void anSdxlControlNetAgreesWithTheCompositeForward(@TempDir Path tmp) throws Exception {
        Path unetDir = Fixtures.require("unet_sdxl");
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(unetDir.resolve("config.json").toFile());
        config.put("_class_name", "ControlNetModel");
        config.remove(java.util.List.of("up_block_types", "out_channels", "center_input_sample", "conv_in_kernel",
                "conv_out_kernel"));
        config.putArray("conditioning_embedding_out_channels").add(8).add(8).add(16).add(16);
        Files.writeString(tmp.resolve("config.json"), json.writeValueAsString(config));
        ControlNetConfig cfg = ControlNetConfig.read(tmp.resolve("config.json"));
        assertTrue(cfg.isTextTime() && cfg.useLinearProjection(), "an SDXL-shaped config");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsStateDict unet = WeightFiles.open(unetDir, WeightFiles.DIFFUSERS)) {
            ControlNetModel controlnet = ControlNetModel.load(cfg, fromUnet(cfg, unet, act), weights,
                    DataType.FLOAT32, "from the SDXL fixture UNet");
            int rows = 2;
            NDArray sample = act.randomNormal(new Shape(rows, 4, 8, 8));
            NDArray cond = act.randomUniform(0, 1, new Shape(rows, 3, 64, 64));
            TextContext context = TextContext.of(act.randomNormal(new Shape(rows, 77, cfg.crossAttentionDim())));
            int textEmbeds = cfg.projectionClassEmbeddingsInputDim() - 6 * cfg.additionTimeEmbedDim();
            UNetExtras extras = UNetExtras.sdxl(act.randomNormal(new Shape(rows, textEmbeds)),
                    act.create(new float[] {64, 64, 0, 0, 64, 64, 64, 48, 8, 0, 64, 64}, new Shape(rows, 6)));
            compare("sdxl-shaped", controlnet, sample, new double[] {20, 810}, context, cond, 0.8f, extras);
            assertTrue(controlnet.scriptedForward(), "the scripted forward is available");
        }
    }

    /** The UNet's encoder weights under their own names, the ControlNet's own parameters random (N(0, 0.1)). */
    private static StateDict fromUnet(ControlNetConfig cfg, SafetensorsStateDict unet, NDManager act) {
        java.util.Map<String, dev.jdiffuse.models.nn.Parameter> own = new ControlNetModel(cfg).namedParameters();
        Set<String> keys = own.keySet().stream().collect(Collectors.toCollection(java.util.LinkedHashSet::new));
        return new StateDict() {
            @Override
            public Set<String> keys() {
                return keys;
            }

            @Override
            public long[] shape(String key) {
                return unet.keys().contains(key) ? unet.shape(key) : own.get(key).shape().getShape();
            }

            @Override
            public NDArray load(String key, NDManager manager, DataType dtype) {
                if (unet.keys().contains(key)) {
                    return unet.load(key, manager, dtype);
                }
                return manager.randomNormal(0, 0.1f, own.get(key).shape(), dtype);
            }
        };
    }

    private static void compare(String what, ControlNetModel controlnet, NDArray sample, double[] t,
            TextContext context, NDArray cond, float scale, UNetExtras extras) {
        ControlNetOutput ref = controlnet.forwardComposite(sample, t, context, cond, scale, extras);
        ControlNetOutput got = controlnet.forward(sample, t, context, cond, scale, extras);
        assertEquals(ref.down().size(), got.down().size(), what + ": residual count");
        double worst = 0;
        for (int i = 0; i < ref.down().size(); i++) {
            worst = Math.max(worst, check(what + " down " + i, ref.down().get(i), got.down().get(i)));
        }
        worst = Math.max(worst, check(what + " mid", ref.mid(), got.mid()));
        Close.report(String.format("controlnet %s: scripted vs composite worst max|diff|/max|ref| = %.2e", what,
                worst));
    }

    private static double check(String what, NDArray ref, NDArray got) {
        assertEquals(ref.getShape(), got.getShape(), what);
        return Close.assertMaxAbsRelative(what, Close.toDouble(ref.toFloatArray()), Close.toDouble(got.toFloatArray()),
                TOLERANCE);
    }
}
