package dev.jdiffuse.server.models;

import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A models folder holding PyTorch pickles beside a real model: the production loader refuses each pickle without
 * opening it, with a message saying why (loading a pickle runs arbitrary code) and how to convert it; the registry
 * logs the refusal and serves the other model.
 */
class PickleRefusalTest {

    /** Not a pickle at all: a loader that read it would fail differently, so the message proves it was never opened. */
    private static final byte[] NOT_EVEN_A_PICKLE = "import os; os.system('echo pwned')".getBytes(StandardCharsets.UTF_8);

    @Test
    void picklesAreRefusedWithTheReasonAndTheOthersServed(@TempDir Path dir) throws Exception {
        Path single = Fixtures.require("single_file/sd15");
        Files.copy(single.resolve("sd15.safetensors"), dir.resolve("good.safetensors"));
        Files.createSymbolicLink(dir.resolve("good.config"), single.resolve("sd15.config"));
        for (String p : List.of("evil.ckpt", "model.pt", "weights.pth", "pytorch_model.bin")) {
            Files.write(dir.resolve(p), NOT_EVEN_A_PICKLE);
        }
        PipelineLoader production = ModelLoaders.production();
        for (String p : List.of("evil.ckpt", "model.pt", "weights.pth", "pytorch_model.bin")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> production.load(dir.resolve(p), "cpu", "fp32"));
            assertTrue(e.getMessage().contains("arbitrary code") && e.getMessage().contains("safetensors")
                    && e.getMessage().contains(p), e.getMessage());
        }
        try (ModelRegistry r = ModelRegistry.open(dir, production, "cpu", "fp32", ModelBudget.UNLIMITED)) {
            assertEquals(List.of("good"), r.loadedModels().stream().map(LoadedModel::name).toList());
            assertEquals("good", r.defaultName().orElseThrow());
            assertTrue(r.loaded("evil").isEmpty());
            // every pickle is listed as failed, saying why, and refused for good (no retry)
            for (ModelListing m : r.list()) {
                if (!m.name().equals("good")) {
                    assertEquals(ModelState.FAILED, m.state(), m.name());
                    assertTrue(m.error().contains("arbitrary code"), m.error());
                }
            }
            assertThrows(ModelUnavailableException.class, () -> r.acquire("evil"));
        }
    }
}
