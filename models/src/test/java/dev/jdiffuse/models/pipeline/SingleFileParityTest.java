package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Single files as model sites ship them ({@code single_file/<case>}, discovered by listing the folder): served with
 * {@code <case>.config/} beside them they reproduce the image of the layout named in {@code meta.json}'s
 * {@code expected} (same prompt, size, steps, guidance and seed; tolerance from the fixtures README: max|diff| <= 2e-3
 * on the [0, 1] image). Served alone, the same file loads with the family and configs detected from its keys and
 * shapes and generates an image. The tiny fixtures' vocabulary (710 tokens) is not CLIP's, so the bundled vocabulary
 * cannot serve them: alone they are refused with a message saying so, and with their tokenizer folder beside them
 * ({@code <name>.tokenizer/}) they generate. No parity is asserted for those runs: the detected heads and GroupNorm
 * groups follow the released models' 64-wide-head and 32-group conventions, which the tiny fixtures do not (see
 * {@code SingleFileDetectionTest}), and the default scheduler is DPM-Solver++ 2M, not the layout's.
 */
class SingleFileParityTest {

    private static final double TOL = 2e-3;
    private static final Pattern LAYOUT = Pattern.compile("layouts/(\\w+)");

    @TempDir
    Path tmp;

    @TestFactory
    List<DynamicTest> withConfigFolderReproducesTheLayout() {
        return Fixtures.eachCase("single_file", c -> {
            String name = c.getFileName().toString();
            Path layout = layoutOf(c);
            try (DiffusionPipeline pipe = Pipelines.open(c.resolve(name + ".safetensors"),
                    LoadOptions.cpu().withSingleFileConfig(c.resolve(name + ".config")))) {
                NDArray expected = null;
                try (SafetensorsFile io = SafetensorsFile.open(layout.resolve("io.safetensors"));
                        NDManager job = NDManager.newBaseManager(Device.cpu())) {
                    NDArray image = pipe.render(request(Fixtures.meta(layout)), job, GenerationListener.NONE).image();
                    double e = Close.assertMaxAbs(name + " image", Close.toDouble(io.toFloatArray("image")),
                            Close.toDouble(image.toFloatArray()), TOL);
                    Close.report(String.format("single_file/%s vs %s image %.3e", name, Fixtures.displayName(layout),
                            e));
                }
            }
        });
    }

    @TestFactory
    List<DynamicTest> withoutConfigFolderDetectsAndGenerates() {
        return Fixtures.eachCase("single_file", " alone", c -> {
            String name = c.getFileName().toString();
            Path dir = Files.createDirectories(tmp.resolve(name));
            Path file = Files.copy(c.resolve(name + ".safetensors"), dir.resolve(name + ".safetensors"));
            CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                    () -> Pipelines.open(file, LoadOptions.cpu()));
            assertTrue(e.getMessage().contains("49408") && e.getMessage().contains(name + ".tokenizer"),
                    e.getMessage());

            copyTree(c.resolve(name + ".config/tokenizer"), dir.resolve(name + ".tokenizer"));
            JsonNode meta = Fixtures.meta(layoutOf(c));
            try (DiffusionPipeline pipe = Pipelines.open(file, LoadOptions.cpu());
                    NDManager job = NDManager.newBaseManager(Device.cpu())) {
                boolean xl = Files.isDirectory(c.resolve(name + ".config/text_encoder_2"));
                assertEquals(xl, pipe.family().equals("sdxl"), "family " + pipe.family());
                NDArray image = pipe.render(request(meta), job, GenerationListener.NONE).image();
                assertEquals(List.of(1L, 3L, (long) meta.get("height").asInt(), (long) meta.get("width").asInt()),
                        List.of(image.getShape().getShape()[0], image.getShape().getShape()[1],
                                image.getShape().getShape()[2], image.getShape().getShape()[3]));
                float[] px = image.toFloatArray();
                double min = Double.MAX_VALUE;
                double max = -Double.MAX_VALUE;
                for (float v : px) {
                    assertTrue(Float.isFinite(v), "finite pixels");
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                assertTrue(min >= 0 && max <= 1 && max - min > 1e-3, "an image in [0, 1]: " + min + ".." + max);
            }
        });
    }

    /** {@code layouts/X} as named by the case's {@code meta.json} ("... reproduces layouts/X's image and seed"). */
    private static Path layoutOf(Path c) {
        Matcher m = LAYOUT.matcher(Fixtures.meta(c).get("expected").asText());
        assertTrue(m.find(), c + ": meta.json names no layout");
        return Fixtures.require("layouts/" + m.group(1));
    }

    private static GenerationRequest request(JsonNode meta) {
        return GenerationRequest.of(meta.get("prompt").asText(), meta.path("negative_prompt").asText(""),
                meta.get("width").asInt(), meta.get("height").asInt(), meta.get("num_inference_steps").asInt(),
                meta.get("guidance_scale").asDouble(), meta.get("seed").asLong());
    }

    private static void copyTree(Path from, Path to) throws java.io.IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
    }
}
