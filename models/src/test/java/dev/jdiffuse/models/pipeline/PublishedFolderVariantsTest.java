package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Folders as they are published, built from {@code layouts/sd15/model} (which already has {@code safety_checker/} and
 * {@code feature_extractor/}): PyTorch {@code .bin} weights beside the safetensors, an {@code image_encoder} entry, and
 * {@code fp16} variant files in place of the plain ones load, ignoring what the server does not use, and reproduce the
 * layout's image (the same weights: tolerance 2e-3 as for pipelines). A folder whose only weights are pickles is
 * refused, saying why, without unpickling anything: the {@code .bin} files here are not even pickles.
 */
class PublishedFolderVariantsTest {

    private static final double TOL = 2e-3;
    private static final byte[] NOT_A_PICKLE = "if unpickled this would be code".getBytes(StandardCharsets.UTF_8);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void binWeightsBesideSafetensorsAndAnImageEncoderEntryAreIgnored() throws Exception {
        Path layout = Fixtures.require("layouts/sd15");
        Path m = copy(layout.resolve("model"), tmp.resolve("with_bins"));
        Files.write(m.resolve("unet/diffusion_pytorch_model.bin"), NOT_A_PICKLE);
        Files.write(m.resolve("vae/diffusion_pytorch_model.bin"), NOT_A_PICKLE);
        Files.write(m.resolve("text_encoder/pytorch_model.bin"), NOT_A_PICKLE);
        Files.write(m.resolve("safety_checker/pytorch_model.bin"), NOT_A_PICKLE);
        ObjectNode index = (ObjectNode) JSON.readTree(m.resolve("model_index.json").toFile());
        index.putArray("image_encoder").add("transformers").add("CLIPVisionModelWithProjection");
        JSON.writeValue(m.resolve("model_index.json").toFile(), index);
        Files.createDirectories(m.resolve("image_encoder"));
        Files.writeString(m.resolve("image_encoder/config.json"), "{\"architectures\": "
                + "[\"CLIPVisionModelWithProjection\"], \"hidden_size\": 32}");
        Files.write(m.resolve("image_encoder/model.safetensors"), NOT_A_PICKLE);
        assertReproducesLayout(m, layout);
    }

    @Test
    void fp16VariantFilesLoadWhenThePlainOnesAreAbsent() throws Exception {
        Path layout = Fixtures.require("layouts/sd15");
        Path m = copy(layout.resolve("model"), tmp.resolve("fp16_variant"));
        for (String f : List.of("unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model", "text_encoder/model",
                "safety_checker/model")) {
            Files.move(m.resolve(f + ".safetensors"), m.resolve(f + ".fp16.safetensors"));
        }
        assertReproducesLayout(m, layout);
    }

    @Test
    void aFolderWithOnlyPickleWeightsIsRefusedSayingWhy() throws Exception {
        Path m = copy(Fixtures.require("layouts/sd15").resolve("model"), tmp.resolve("only_bins"));
        Files.delete(m.resolve("unet/diffusion_pytorch_model.safetensors"));
        Files.write(m.resolve("unet/diffusion_pytorch_model.bin"), NOT_A_PICKLE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pipelines.open(m, LoadOptions.cpu()).close());
        assertTrue(e.getMessage().contains("arbitrary code") && e.getMessage().contains("diffusion_pytorch_model.bin")
                && e.getMessage().contains("safetensors"), e.getMessage());
    }

    private static void assertReproducesLayout(Path model, Path layout) {
        JsonNode meta = Fixtures.meta(layout);
        try (DiffusionPipeline pipe = Pipelines.open(model, LoadOptions.cpu());
                SafetensorsFile io = SafetensorsFile.open(layout.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.path("negative_prompt").asText(""), meta.get("width").asInt(), meta.get("height").asInt(),
                    meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                    meta.get("seed").asLong());
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            double e = Close.assertMaxAbs(model.getFileName() + " image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("%s vs %s image %.3e", model.getFileName(), Fixtures.displayName(layout), e));
        }
    }

    private static Path copy(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                    t.toFile().setWritable(true);
                }
            }
        }
        return to;
    }
}
