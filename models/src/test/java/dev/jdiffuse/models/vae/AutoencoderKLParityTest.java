package dev.jdiffuse.models.vae;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.ThrowingConsumer;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@code vae_kl}: diffusers {@code AutoencoderKL} encode (posterior mean, log-variance) and decode. */
class AutoencoderKLParityTest {

    private static final String CASE = "vae_kl";

    @TestFactory
    List<DynamicTest> vaeKl() {
        return Fixtures.checks(CASE,
                Fixtures.check("encode: latent_mean, latent_logvar", withVae(AutoencoderKLParityTest::encode)),
                Fixtures.check("decode: decoded", withVae(AutoencoderKLParityTest::decode)),
                Fixtures.check("pipeline helpers: latentsToImage, imageToLatents, no leaks",
                        withVae(AutoencoderKLParityTest::helpers)));
    }

    /** A check of the case's VAE (fp32), given its reference tensors, a manager for activations and the case name. */
    private interface VaeCheck {
        void run(AutoencoderKL vae, SafetensorsFile io, NDManager act, String name);
    }

    private static ThrowingConsumer<Path> withVae(VaeCheck check) {
        return dir -> {
            try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                    SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
                check.run(AutoencoderKL.load(dir, weights, DataType.FLOAT32), io, act, Fixtures.displayName(dir));
            }
        };
    }

    private static void encode(AutoencoderKL vae, SafetensorsFile io, NDManager act, String name) {
        LatentDistribution posterior = vae.encode(FixtureIo.tensor(io, "image", act));
        FixtureIo.compare(name + " latent_mean", io, "latent_mean", posterior.mean());
        FixtureIo.compare(name + " latent_logvar", io, "latent_logvar", posterior.logvar());
    }

    private static void decode(AutoencoderKL vae, SafetensorsFile io, NDManager act, String name) {
        NDArray decoded = vae.decode(FixtureIo.tensor(io, "latents", act));
        FixtureIo.compare(name + " decoded", io, "decoded", decoded);
    }

    /**
     * The pipelines' conversions against the same references: {@code latentsToImage(sf * z)} is
     * {@code (decode(z) / 2 + 0.5).clamp(0, 1)} and {@code imageToLatents(x)} is {@code sf * mean} (no shift in this
     * config when absent); and each call leaves only its input and output in the caller's manager.
     */
    private static void helpers(AutoencoderKL vae, SafetensorsFile io, NDManager act, String name) {
        AutoencoderKLConfig c = vae.config();
        float sf = (float) c.scalingFactor();
        float shift = (float) c.shift();
        NDArray vaeLatents = FixtureIo.tensor(io, "latents", act);
        NDArray modelLatents = vaeLatents.sub(shift).mul(sf);
        NDArray expectedImage = FixtureIo.tensor(io, "decoded", act).div(2f).add(0.5f).clip(0f, 1f);
        NDArray expectedLatents = FixtureIo.tensor(io, "latent_mean", act).sub(shift).mul(sf);
        NDArray image = FixtureIo.tensor(io, "image", act);
        int before = managed(act);
        NDArray decoded = vae.latentsToImage(modelLatents);
        assertEquals(before + 1, managed(act), "latentsToImage leaves only its output");
        NDArray encoded = vae.imageToLatents(image);
        assertEquals(before + 2, managed(act), "imageToLatents leaves only its output");
        report(name + " latentsToImage", expectedImage, decoded);
        report(name + " imageToLatents", expectedLatents, encoded);
    }

    private static int managed(NDManager m) {
        return ((BaseNDManager) m).getManagedArrays().size();
    }

    private static void report(String what, NDArray expected, NDArray actual) {
        assertEquals(expected.getShape(), actual.getShape(), what + ": shape");
        double err = Close.assertMaxAbsRelative(what, Close.toDouble(expected.toFloatArray()),
                Close.toDouble(actual.toFloatArray()), FixtureIo.MODEL_TOLERANCE);
        Close.report(String.format("%s max|diff|/max|ref| = %.3e", what, err));
    }
}
