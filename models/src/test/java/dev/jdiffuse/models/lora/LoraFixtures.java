package dev.jdiffuse.models.lora;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.Fixtures;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/** A {@code lora/<case>} fixture folder: its base model, its LoRA file, and LoRA files rewritten from it. */
final class LoraFixtures {

    private LoraFixtures() {
    }

    /** The base model folder the case's {@code meta.json} names (relative to the case). */
    static Path model(Path caseDir) {
        return caseDir.resolve(Fixtures.meta(caseDir).get("model").asText()).normalize();
    }

    /** The case's LoRA: its one {@code .safetensors} besides {@code io.safetensors}. */
    static Path loraFile(Path caseDir) {
        try (Stream<Path> s = Files.list(caseDir)) {
            List<Path> files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                    .filter(p -> !p.getFileName().toString().equals("io.safetensors")).sorted().toList();
            if (files.size() != 1) {
                throw new AssertionError("expected one LoRA file in " + caseDir + ", found " + files);
            }
            return files.get(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode meta(Path caseDir) {
        return Fixtures.meta(caseDir);
    }

    /**
     * Writes {@code out} with every tensor of {@code lora} (bytes unchanged) under the key {@code rename} gives
     * (null drops it), plus {@code extra} tensors.
     */
    static Path rewrite(Path lora, Path out, Function<String, String> rename, Map<String, TensorData> extra) {
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(lora)) {
            for (String k : f.names()) {
                String n = rename.apply(k);
                if (n != null) {
                    ByteBuffer b = f.buffer(k);
                    byte[] bytes = new byte[b.remaining()];
                    b.get(bytes);
                    tensors.put(n, TensorData.of(f.info(k).dtype(), f.info(k).shape(), bytes));
                }
            }
        }
        tensors.putAll(extra);
        SafetensorsWriter.write(out, tensors);
        return out;
    }
}
