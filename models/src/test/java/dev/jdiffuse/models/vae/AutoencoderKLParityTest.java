package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

/** {@code vae_kl}: diffusers {@code AutoencoderKL} encode (posterior mean, log-variance) and decode. */
class AutoencoderKLParityTest {

    private static final String CASE = "vae_kl";

    @TestFactory
    List<DynamicTest> vaeKl() {
        if (!Fixtures.present(CASE)) {
            return List.of(DynamicTest.dynamicTest(CASE, () -> Fixtures.require(CASE)));
        }
        Path dir = Fixtures.require(CASE);
        String name = Fixtures.displayName(dir);
        return List.of(
                DynamicTest.dynamicTest(name + " encode: latent_mean, latent_logvar", () -> encode(dir, name)),
                DynamicTest.dynamicTest(name + " decode: decoded", () -> decode(dir, name)));
    }

    private static void encode(Path dir, String name) {
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            AutoencoderKL vae = AutoencoderKL.load(dir, weights, DataType.FLOAT32);
            LatentDistribution posterior = vae.encode(FixtureIo.tensor(io, "image", act));
            FixtureIo.compare(name + " latent_mean", io, "latent_mean", posterior.mean());
            FixtureIo.compare(name + " latent_logvar", io, "latent_logvar", posterior.logvar());
        }
    }

    private static void decode(Path dir, String name) {
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            AutoencoderKL vae = AutoencoderKL.load(dir, weights, DataType.FLOAT32);
            NDArray decoded = vae.decode(FixtureIo.tensor(io, "latents", act));
            FixtureIo.compare(name + " decoded", io, "decoded", decoded);
        }
    }
}
