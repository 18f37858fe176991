package dev.jdiffuse.models.vae;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@code vae_tiny}: diffusers {@code AutoencoderTiny} (TAESD) {@code decode(z).sample} and {@code encode(x).latents}. */
class AutoencoderTinyParityTest {

    private static final String CASE = "vae_tiny";

    @TestFactory
    List<DynamicTest> vaeTiny() {
        return Fixtures.checks(CASE,
                Fixtures.check("decode: decoded", dir -> run(dir, false)),
                Fixtures.check("encode: encoded", dir -> run(dir, true)));
    }

    private static void run(Path dir, boolean encode) {
        String name = Fixtures.displayName(dir);
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            AutoencoderTiny vae = AutoencoderTiny.load(dir, weights, DataType.FLOAT32);
            NDArray input = FixtureIo.tensor(io, encode ? "image" : "latents", act);
            int before = ((BaseNDManager) act).getManagedArrays().size();
            NDArray output = encode ? vae.encode(input) : vae.decode(input);
            assertEquals(before + 1, ((BaseNDManager) act).getManagedArrays().size(), "only the output is kept");
            FixtureIo.compare(name + (encode ? " encoded" : " decoded"), io, encode ? "encoded" : "decoded", output);
        }
    }
}
