package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one-call TorchScript encoder and decoder ({@link TorchScriptVae}) against the op-by-op path through the Java
 * modules, same weights and inputs, fp32 on the CPU: they run the same kernels in the same order, so they agree to
 * float32 rounding (1e-5 of the output's largest magnitude). Every {@code AutoencoderKL} of the fixtures (SD, SDXL,
 * SD3's and FLUX's 16-channel VAEs with a shift factor and no quant convs), plus one with per-channel latent
 * statistics (no fixture has them: {@code vae_kl}'s weights under a config that adds them); batch 1 and 3, odd
 * latent and image sizes. Skipped under {@code -Djdiffuse.scripted=false} (the composite-ops execution), where only
 * the op-by-op path runs.
 */
class TorchScriptVaeTest {

    /** The scripted VAE is opt-in ({@code jdiffuse.scripted.vae}); on for this class only. */
    @org.junit.jupiter.api.BeforeAll
    static void scriptTheVae() {
        System.setProperty("jdiffuse.scripted.vae", "true");
    }

    @org.junit.jupiter.api.AfterAll
    static void backToTheDefault() {
        System.clearProperty("jdiffuse.scripted.vae");
    }

    private static final double TOLERANCE = 1e-5;

    @TestFactory
    List<DynamicTest> agreesWithTheOpByOpPathOnEveryKlVaeFixture() {
        return Fixtures.eachFile("AutoencoderKL folders", TorchScriptVaeTest::isKlVaeConfig, config -> {
            try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
                AutoencoderKL vae = AutoencoderKL.load(config.getParent(), weights, DataType.FLOAT32);
                checkAll(Fixtures.displayName(config.getParent()), vae, act);
            }
        });
    }

    private static boolean isKlVaeConfig(Path p) {
        return p.getFileName().toString().equals("config.json")
                && Files.exists(p.resolveSibling("diffusion_pytorch_model.safetensors"))
                && "AutoencoderKL".equals(Fixtures.json(p).path("_class_name").asText());
    }

    @Test
    void agreesWithPerChannelLatentStatistics() {
        Path dir = Fixtures.require("vae_kl");
        AutoencoderKLConfig c = AutoencoderKLConfig.read(dir.resolve("config.json"));
        List<Double> mean = new ArrayList<>();
        List<Double> std = new ArrayList<>();
        for (int i = 0; i < c.latentChannels(); i++) {
            mean.add(0.1 * i - 0.13);
            std.add(0.7 + 0.21 * i);
        }
        AutoencoderKLConfig withStats = new AutoencoderKLConfig(c.inChannels(), c.outChannels(), c.downBlockTypes(),
                c.upBlockTypes(), c.blockOutChannels(), c.layersPerBlock(), c.actFn(), c.latentChannels(),
                c.normNumGroups(), c.sampleSize(), c.scalingFactor(), c.shiftFactor(), mean, std, c.forceUpcast(),
                c.useQuantConv(), c.usePostQuantConv(), c.midBlockAddAttention());
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsStateDict sd = WeightFiles.open(dir, WeightFiles.DIFFUSERS)) {
            AutoencoderKL vae = AutoencoderKL.load(withStats, sd, weights, DataType.FLOAT32);
            checkAll("vae_kl with latents_mean/std", vae, act);
        }
    }

    private static void checkAll(String name, AutoencoderKL vae, NDManager act) {
        Assumptions.assumeTrue(Boolean.parseBoolean(System.getProperty("jdiffuse.scripted", "true")),
                "jdiffuse.scripted=false: only the op-by-op path runs");
        assertTrue(vae.scripted(), name + ": the scripted path is available");
        AutoencoderKLConfig c = vae.config();
        int f = c.downscale();
        double worst = 0;
        // batch, latent height, width; the image of the encoder checks is f times that, then an odd size (the
        // encoder's padded stride-2 convs floor it)
        for (long[] s : new long[][] {{1, 8, 8}, {3, 8, 8}, {1, 7, 5}, {3, 7 * f + 3, 5 * f + 1}}) {
            boolean odd = s[1] > 8;
            if (!odd) {
                String size = String.format(" batch %d latent %dx%d", s[0], s[1], s[2]);
                NDArray z = act.randomNormal(new Shape(s[0], c.latentChannels(), s[1], s[2]));
                worst = Math.max(worst, compare(name + " decode" + size, vae.decodeComposite(z), vae.decode(z)));
                worst = Math.max(worst, compare(name + " latentsToImage" + size, vae.latentsToImageComposite(z),
                        vae.latentsToImage(z)));
            }
            long h = odd ? s[1] : f * s[1];
            long w = odd ? s[2] : f * s[2];
            String isize = String.format(" batch %d image %dx%d", s[0], h, w);
            NDArray image = act.randomUniform(-1f, 1f, new Shape(s[0], c.inChannels(), h, w));
            LatentDistribution ref = vae.encodeComposite(image);
            LatentDistribution got = vae.encode(image);
            worst = Math.max(worst, compare(name + " encode mean" + isize, ref.mean(), got.mean()));
            worst = Math.max(worst, compare(name + " encode logvar" + isize, ref.logvar(), got.logvar()));
            worst = Math.max(worst, compare(name + " imageToLatents" + isize, vae.imageToLatentsComposite(image),
                    vae.imageToLatents(image)));
        }
        Close.report(String.format("%s: scripted vs op by op, worst max|diff|/max|ref| = %.2e", name, worst));
    }

    private static double compare(String what, NDArray ref, NDArray got) {
        assertEquals(ref.getShape(), got.getShape(), what + ": shape");
        assertEquals(ref.getDataType(), got.getDataType(), what + ": dtype");
        return Close.assertMaxAbsRelative(what, Close.toDouble(ref.toFloatArray()), Close.toDouble(got.toFloatArray()),
                TOLERANCE);
    }

    /** LoRA-style patching replaces parameter arrays: the next call must use the new ones, and the old ones after. */
    @Test
    void followsReplacedWeights() {
        Path dir = Fixtures.require("vae_kl");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(dir, weights, DataType.FLOAT32);
            Assumptions.assumeTrue(vae.scripted(), "the scripted path is off");
            NDArray z = act.randomNormal(new Shape(1, vae.config().latentChannels(), 8, 8));
            NDArray image = act.randomUniform(-1f, 1f, new Shape(1, vae.config().inChannels(), 64, 64));
            float[] before = vae.decode(z).toFloatArray();
            float[] meanBefore = vae.encode(image).mean().toFloatArray();
            Parameter dec = vae.namedParameters().get("decoder.mid_block.attentions.0.to_v.weight");
            Parameter enc = vae.namedParameters().get("encoder.conv_in.weight");
            NDArray baseDec = dec.replace(dec.get().mul(3f));
            NDArray baseEnc = enc.replace(enc.get().mul(0.5f));
            NDArray patched = vae.decode(z);
            compare("patched decoder", vae.decodeComposite(z), patched);
            compare("patched encoder", vae.encodeComposite(image).mean(), vae.encode(image).mean());
            assertTrue(patched.sub(act.create(before, patched.getShape())).abs().max().getFloat() > 1e-3f,
                    "the patch changes the output");
            dec.replace(baseDec);
            enc.replace(baseEnc);
            Close.assertMaxAbsRelative("restored decoder", Close.toDouble(before),
                    Close.toDouble(vae.decode(z).toFloatArray()), TOLERANCE);
            Close.assertMaxAbsRelative("restored encoder", Close.toDouble(meanBefore),
                    Close.toDouble(vae.encode(image).mean().toFloatArray()), TOLERANCE);
        }
    }

    /** A script whose weights are not exactly the model's parameters is refused (the model then runs op by op). */
    @Test
    void refusesWeightsThatDifferFromTheModels() {
        Path dir = Fixtures.require("vae_kl");
        AutoencoderKLConfig c = AutoencoderKLConfig.read(dir.resolve("config.json"));
        Set<String> names = new HashSet<>(AutoencoderKL.unloaded(c).namedParameters().keySet());
        VaeScriptSource.of(c, names);
        names.remove("decoder.conv_in.bias");
        names.add("decoder.conv_in.extra");
        assertThrows(UnsupportedOperationException.class, () -> VaeScriptSource.of(c, names));
    }
}
