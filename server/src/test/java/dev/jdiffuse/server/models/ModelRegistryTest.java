package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading the --models folder through the loader seam: names, hashes, and failures left out. */
class ModelRegistryTest {

    static ImagePipeline stub(String name) {
        return (ImagePipeline) Proxy.newProxyInstance(ImagePipeline.class.getClassLoader(),
                new Class<?>[] {ImagePipeline.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "name" -> name;
                    case "family" -> "sd1";
                    default -> null;
                });
    }

    @Test
    void loadsEveryEntryNamesThemAndLeavesOutFailures(@TempDir Path dir) throws Exception {
        byte[] single = {1, 2, 3, 4};
        Files.write(dir.resolve("single.safetensors"), single);
        Files.createDirectories(dir.resolve("folder/unet"));
        Files.write(dir.resolve("folder/unet/diffusion_pytorch_model.safetensors"), new byte[] {5, 6});
        Files.writeString(dir.resolve("folder/model_index.json"), "{}");
        Files.createDirectories(dir.resolve("broken"));
        Files.createDirectories(dir.resolve(".cache"));
        List<String> asked = new ArrayList<>();
        PipelineLoader loader = (entry, device, dtype) -> {
            asked.add(entry.getFileName() + " " + device + " " + dtype);
            if (entry.getFileName().toString().equals("broken")) {
                throw new IllegalStateException("missing model_index.json");
            }
            return stub(Pipelines.nameOf(entry));
        };
        try (ModelRegistry r = ModelRegistry.load(dir, loader, "cpu", "fp32")) {
            assertEquals(List.of("broken cpu fp32", "folder cpu fp32", "single.safetensors cpu fp32"), asked,
                    "every visible entry, in name order, with the device and dtype");
            assertEquals(List.of("folder", "single"), r.all().stream().map(LoadedModel::name).toList());
            assertEquals("folder", r.defaultModel().orElseThrow().name());
            String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(single));
            assertEquals(expected, r.get("single").orElseThrow().sha256(), "a single file hashes as itself");
            assertEquals(expected.substring(0, 10), r.get("single").orElseThrow().shortHash());
            String folderHash = r.get("folder").orElseThrow().sha256();
            Files.write(dir.resolve("folder/unet/diffusion_pytorch_model.safetensors"), new byte[] {5, 7});
            assertNotEquals(folderHash, ModelHasher.sha256(dir.resolve("folder")), "weights change the hash");
            Files.writeString(dir.resolve("folder/model_index.json"), "{\"x\":1}");
            assertEquals(ModelHasher.sha256(dir.resolve("folder")), ModelHasher.sha256(dir.resolve("folder")));
            assertTrue(r.get("broken").isEmpty());
        }
    }
}
