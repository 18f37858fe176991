package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.checkpoint.Sd3TextEncoderFiles;
import dev.jdiffuse.models.pipeline.FluxSingleFileWriter.GgufStorage;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An SD 3.5 MMDiT as a GGUF ({@code layouts/sd35}'s transformer under the original names without
 * {@code model.diffusion_model.}, as city96's {@code sd3.5_large-*.gguf}) in Stability's repository layout:
 * {@code text_encoders/} (CLIP-L, CLIP-G, T5) and the diffusers {@code vae/} folder beside it. Compared with the
 * MMDiT-only safetensors file ({@code sd3.5_large.safetensors}: prefixed MMDiT and LDM VAE) with the same encoders
 * beside it and the same config folder (what the tiny model's shapes do not tell, {@link Sd3SingleFileParityTest}):
 * with F16 2-D weights the images agree within 2e-3 (the fixture's BF16 weights are exact in F16; the two VAEs are the
 * same tensors under two namings), with Q8_0 within the 2e-2 sanity bound of {@link FluxGgufParityTest}. Not against
 * the layout's reference image: a standalone CLIP-L's projection is never applied to SD 3 and the fixture's is random
 * (see {@link Sd3SingleFileParityTest}). Without {@code vae/} the GGUF is refused naming it.
 */
class Sd3GgufTest {

    private static final String LAYOUT = "layouts/sd35";
    private static final double TOL = 2e-3;
    private static final double Q8_BOUND = 2e-2;

    @TempDir
    Path tmp;

    @Test
    void f16AndQ8_0GgufsRenderAsTheSafetensorsMmdit() throws Exception {
        Path layout = Fixtures.require(LAYOUT);
        Path model = layout.resolve("model");
        Path dir = Files.createDirectories(tmp.resolve("sd35"));
        Path safetensors = dir.resolve("sd3.5_tiny.safetensors");
        Sd3SingleFileWriter.write(model, safetensors, new Sd3SingleFileWriter.Parts(false, false, false));
        encodersBeside(model, dir);
        copyTree(model.resolve("vae"), dir.resolve("vae"));
        Path config = configFolder(model, tmp.resolve("cfg"));
        float[] reference = render(safetensors, config, layout);

        Path f16 = dir.resolve("sd3.5_tiny-F16.gguf");
        Sd3SingleFileWriter.ggufMmdit(model, f16, GgufStorage.F16);
        double e = maxDiff(reference, render(f16, config, layout));
        Close.report(String.format("SD 3.5 GGUF F16 vs MMDiT-only safetensors image %.3e", e));
        assertTrue(e <= TOL, "F16 GGUF max|diff| " + e);

        Path q8 = dir.resolve("sd3.5_tiny-Q8_0.gguf");
        Sd3SingleFileWriter.ggufMmdit(model, q8, GgufStorage.Q8_0);
        double q = maxDiff(reference, render(q8, config, layout));
        Close.report(String.format("SD 3.5 GGUF Q8_0 vs MMDiT-only safetensors image %.3e", q));
        assertTrue(q <= Q8_BOUND && q > 1e-6, "Q8_0 GGUF max|diff| " + q);
    }

    @Test
    void anMmditGgufWithoutItsVaeFolderIsRefusedNamingIt() throws Exception {
        Path model = Fixtures.require(LAYOUT).resolve("model");
        Path dir = Files.createDirectories(tmp.resolve("novae"));
        encodersBeside(model, dir);
        Path gguf = dir.resolve("sd3.5_tiny-Q8_0.gguf");
        Sd3SingleFileWriter.ggufMmdit(model, gguf, GgufStorage.Q8_0);
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> Pipelines.open(gguf, LoadOptions.cpu()).close());
        assertTrue(e.getMessage().contains(gguf.toString()) && e.getMessage().contains("vae/config.json")
                && e.getMessage().contains("without its VAE"), e.getMessage());
    }

    private static float[] render(Path file, Path config, Path layout) {
        JsonNode meta = Fixtures.meta(layout);
        try (DiffusionPipeline base = Pipelines.open(file, LoadOptions.cpu().withSingleFileConfig(config));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            assertEquals("sd3", base.family());
            DiffusionPipeline pipe = StableDiffusion3Family.withMaxSequenceLength(base,
                    meta.get("max_sequence_length").asInt());
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.path("negative_prompt").asText(""), meta.get("width").asInt(), meta.get("height").asInt(),
                    meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                    meta.get("seed").asLong());
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    /** Stability's layout: the encoders in transformers' naming in {@code text_encoders/}. */
    private static void encodersBeside(Path model, Path dir) throws IOException {
        Path encoders = Files.createDirectories(dir.resolve(Sd3TextEncoderFiles.FOLDER));
        Files.copy(model.resolve("text_encoder/model.safetensors"), encoders.resolve("clip_l.safetensors"));
        Files.copy(model.resolve("text_encoder_2/model.safetensors"), encoders.resolve("clip_g.safetensors"));
        Files.copy(model.resolve("text_encoder_3/model.safetensors"), encoders.resolve("t5xxl_fp16.safetensors"));
    }

    /** The configs whose fields no shape carries for the tiny model, and the CLIP tokenizers. */
    private static Path configFolder(Path model, Path config) throws IOException {
        for (String c : List.of("transformer", "text_encoder", "text_encoder_2", "vae")) {
            Files.createDirectories(config.resolve(c));
            Files.copy(model.resolve(c + "/config.json"), config.resolve(c + "/config.json"));
        }
        copyTree(model.resolve("tokenizer"), config.resolve("tokenizer"));
        copyTree(model.resolve("tokenizer_2"), config.resolve("tokenizer_2"));
        return config;
    }

    private static void copyTree(Path from, Path to) throws IOException {
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
