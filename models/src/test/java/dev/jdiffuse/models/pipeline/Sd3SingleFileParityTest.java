package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.checkpoint.DetectedSd3Checkpoint;
import dev.jdiffuse.models.checkpoint.Sd3CheckpointDetector;
import dev.jdiffuse.models.checkpoint.Sd3TextEncoderFiles;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightMismatchException;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SD 3.5 single files built from {@code layouts/sd35} (the diffusers folder written back under the original names by
 * {@link Sd3SingleFileWriter}, a table independent of the loader's), loaded with no config folder beside them:
 * <ol>
 *   <li>every config detected from the keys and shapes equals the folder's {@code config.json}, record component by
 *       record component, except what no shape carries and the tiny fixture does not follow the releases in:
 *       {@code sample_size} (MMDiT 128 / VAE 1024 by convention, 16 / 32 here), the VAE's GroupNorm groups (32 by
 *       convention, 8 here) and the CLIP heads (64-wide by convention, 4-wide here);</li>
 *   <li>the image equals the layout's reference (max|diff| <= 2e-3 on the [0, 1] image, PublishedLayoutsParityTest's
 *       tolerance, same request and {@code max_sequence_length}). Because of the three conventions above (the MMDiT's
 *       {@code sample_size} matters: the sin-cos positions are scaled by {@code sample_size / patch_size}, diffusers'
 *       {@code PatchEmbed.base_size}), and because the fixture's 710-token CLIP vocabulary is not the one bundled in
 *       the jar, this run puts beside the file a config folder holding only the configs whose differing fields no
 *       shape carries ({@code transformer/}, {@code text_encoder/}, {@code text_encoder_2/}, {@code vae/}
 *       {@code config.json}; check 1 asserts every other field of them is detected) and the CLIP tokenizers. Every
 *       weight still comes from the file through the key tables, the T5 config and the scheduler are the detected /
 *       default ones, and the T5 tokenizer is the jar's T5 v1.1 vocabulary (the fixture's {@code tokenizer_3} is the
 *       same);</li>
 *   <li>a file without T5 and without CLIP-L's projection (as {@code sd3_medium_incl_clips.safetensors} ships) loads
 *       with nothing beside it but the tokenizer folder its vocabulary needs, and generates an image;</li>
 *   <li>an MMDiT-only file (as {@code sd3.5_large.safetensors} ships) is refused naming the missing encoders and the
 *       {@code text_encoders/} folder; with {@code clip_l}, {@code clip_g} and {@code t5xxl_fp16.safetensors} there
 *       (Stability's repository layout) its encoders' configs are detected and it generates. No parity for this one:
 *       a standalone CLIP-L's projection is never applied (SD 3 uses its pooled output unprojected), and the
 *       fixture's is random;</li>
 *   <li>an MMDiT with a key missing and one unknown fails naming both.</li>
 * </ol>
 * The fixture's CLIP-L has a random {@code text_projection} (released ones are used unprojected, see
 * {@code Sd3SingleFileParts}), so the files of checks 1 and 2 carry it, as a file converted from a folder would.
 */
class Sd3SingleFileParityTest {

    private static final double TOL = 2e-3;
    private static final String LAYOUT = "layouts/sd35";
    private static final String SAMPLE = "sample_size: the released latent / pixel size by convention";
    private static final String GROUPS = "GroupNorm groups: not in any shape; 32 by convention";
    private static final String HEADS = "heads: not in any CLIP shape; 64-wide by convention";

    @TempDir
    Path tmp;

    @TestFactory
    List<DynamicTest> singleFile() {
        return Fixtures.checks(LAYOUT,
                Fixtures.check("single file: detected configs equal the folder's", this::detectedConfigsEqualFolder),
                Fixtures.check("single file: image equals the reference", this::imageEqualsReference),
                Fixtures.check("single file without T5 and CLIP-L projection: generates", this::withoutT5Generates),
                Fixtures.check("MMDiT-only file with text_encoders/ beside it: loads them, generates",
                        this::textEncodersBesideAnMmditOnlyFile),
                Fixtures.check("single file: missing and unknown MMDiT keys are listed", this::mismatchListsKeys));
    }

    private void detectedConfigsEqualFolder(Path layout) throws Exception {
        Path model = layout.resolve("model");
        Path file = write(layout, "sd35_detected", Sd3SingleFileWriter.Parts.ALL);
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(file)) {
            assertTrue(Sd3CheckpointDetector.isSd3(sd.keys()));
            DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(sd, file.toString());
            assertRecordEquals("transformer", SD3TransformerConfig.read(model.resolve("transformer/config.json")),
                    d.transformer(), Map.of("sampleSize", SAMPLE));
            assertEquals(Sd3CheckpointDetector.SAMPLE_SIZE, d.transformer().sampleSize());
            assertRecordEquals("vae", AutoencoderKLConfig.read(model.resolve("vae/config.json")), d.vae(),
                    Map.of("normNumGroups", GROUPS, "sampleSize", SAMPLE));
            assertRecordEquals("text_encoder", ClipTextConfig.read(model.resolve("text_encoder/config.json")),
                    d.clipL().detected(), Map.of("numAttentionHeads", HEADS));
            assertRecordEquals("text_encoder_2", ClipTextConfig.read(model.resolve("text_encoder_2/config.json")),
                    d.clipG().detected(), Map.of("numAttentionHeads", HEADS));
            assertRecordEquals("text_encoder_3", T5Config.read(model.resolve("text_encoder_3/config.json")), d.t5(),
                    Map.of());
            assertTrue(d.clipLProjected());
        }
    }

    private void imageEqualsReference(Path layout) throws Exception {
        Path model = layout.resolve("model");
        Path file = write(layout, "sd35", Sd3SingleFileWriter.Parts.ALL);
        Path config = tmp.resolve("sd35/sd35.config");
        for (String c : List.of("transformer", "text_encoder", "text_encoder_2", "vae")) {
            Files.createDirectories(config.resolve(c));
            Files.copy(model.resolve(c + "/config.json"), config.resolve(c + "/config.json"));
        }
        copyTree(model.resolve("tokenizer"), config.resolve("tokenizer"));
        copyTree(model.resolve("tokenizer_2"), config.resolve("tokenizer_2"));
        JsonNode meta = Fixtures.meta(layout);
        try (DiffusionPipeline base = Pipelines.open(file, LoadOptions.cpu().withSingleFileConfig(config));
                SafetensorsFile io = SafetensorsFile.open(layout.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            assertEquals("sd3", base.family());
            DiffusionPipeline pipe = StableDiffusion3Family.withMaxSequenceLength(base,
                    meta.get("max_sequence_length").asInt());
            NDArray image = pipe.render(request(meta, meta.get("num_inference_steps").asInt()), job,
                    GenerationListener.NONE).image();
            double e = Close.assertMaxAbs("sd35 single-file image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("sd35 single file vs %s image %.3e", Fixtures.displayName(layout), e));
        }
    }

    private void withoutT5Generates(Path layout) throws Exception {
        Path file = write(layout, "sd3_incl_clips", new Sd3SingleFileWriter.Parts(true, false, false));
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(file)) {
            DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(sd, file.toString());
            assertNull(d.t5());
            assertFalse(d.clipLProjected());
            assertEquals(d.clipL().detected().hiddenSize(), d.clipL().detected().projectionDim(),
                    "unprojected CLIP-L: the pooled width is the hidden width");
        }
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> Pipelines.open(file, LoadOptions.cpu()));
        assertTrue(e.getMessage().contains("49408") && e.getMessage().contains("sd3_incl_clips.tokenizer"),
                e.getMessage());
        copyTree(layout.resolve("model/tokenizer"), file.resolveSibling("sd3_incl_clips.tokenizer"));
        assertGenerates(file, Fixtures.meta(layout));
    }

    /** The file alone (with what lies beside it) opens as SD 3 and renders a finite [0, 1] image of the size asked. */
    private static void assertGenerates(Path file, JsonNode meta) {
        try (DiffusionPipeline pipe = Pipelines.open(file, LoadOptions.cpu());
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            assertEquals("sd3", pipe.family());
            NDArray image = pipe.render(request(meta, 2), job, GenerationListener.NONE).image();
            long[] shape = image.getShape().getShape();
            assertEquals(List.of(1L, 3L, (long) meta.get("height").asInt(), (long) meta.get("width").asInt()),
                    List.of(shape[0], shape[1], shape[2], shape[3]));
            double min = Double.MAX_VALUE;
            double max = -Double.MAX_VALUE;
            for (float v : image.toFloatArray()) {
                assertTrue(Float.isFinite(v), "finite pixels");
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            assertTrue(min >= 0 && max <= 1 && max - min > 1e-3, "an image in [0, 1]: " + min + ".." + max);
        }
    }

    private void textEncodersBesideAnMmditOnlyFile(Path layout) throws Exception {
        Path model = layout.resolve("model");
        Path file = write(layout, "sd3.5_large", new Sd3SingleFileWriter.Parts(false, false, false));
        CheckpointFormatException refused = assertThrows(CheckpointFormatException.class,
                () -> Pipelines.open(file, LoadOptions.cpu()));
        assertTrue(refused.getMessage().contains(Sd3CheckpointDetector.CLIP_L)
                && refused.getMessage().contains(Sd3CheckpointDetector.CLIP_G)
                && refused.getMessage().contains(Sd3TextEncoderFiles.FOLDER + "/"), refused.getMessage());

        // Stability's repository layout; the fixture's encoders are in transformers' naming, as those files are
        Path encoders = Files.createDirectories(file.resolveSibling(Sd3TextEncoderFiles.FOLDER));
        Files.copy(model.resolve("text_encoder/model.safetensors"), encoders.resolve("clip_l.safetensors"));
        Files.copy(model.resolve("text_encoder_2/model.safetensors"), encoders.resolve("clip_g.safetensors"));
        Files.copy(model.resolve("text_encoder_3/model.safetensors"), encoders.resolve("t5xxl_fp16.safetensors"));
        try (SafetensorsStateDict raw = SafetensorsStateDict.open(file);
                Sd3TextEncoderFiles beside = Sd3TextEncoderFiles.beside(file, raw)) {
            assertEquals(3, beside.added().size(), beside.added().toString());
            DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(beside.view(), file.toString());
            assertFalse(d.clipLProjected(), "a standalone CLIP-L's projection is never applied to SD 3");
            assertRecordEquals("clip_g.safetensors", ClipTextConfig.read(model.resolve("text_encoder_2/config.json")),
                    d.clipG().detected(), Map.of("numAttentionHeads", HEADS));
            assertRecordEquals("t5xxl_fp16.safetensors", T5Config.read(model.resolve("text_encoder_3/config.json")),
                    d.t5(), Map.of());
        }
        copyTree(model.resolve("tokenizer"), file.resolveSibling("sd3.5_large.tokenizer"));
        assertGenerates(file, Fixtures.meta(layout));
    }

    private void mismatchListsKeys(Path layout) throws Exception {
        Path file = write(layout, "sd35_broken", Sd3SingleFileWriter.Parts.ALL);
        String dropped = "model.diffusion_model.joint_blocks.0.x_block.attn.ln_k.weight";
        String unknown = "model.diffusion_model.joint_blocks.0.x_block.attn.extra.weight";
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(file); NDManager m = NDManager.newBaseManager()) {
            SD3TransformerConfig c = Sd3CheckpointDetector.detect(sd, "file").transformer();
            Set<String> keys = new HashSet<>(sd.keys());
            assertTrue(keys.remove(dropped));
            keys.add(unknown);
            StateDict broken = StateDict.of(keys, k -> k.equals(unknown) ? new long[] {8} : sd.shape(k),
                    (k, mm, t) -> sd.load(k, mm, t));
            WeightMismatchException e = assertThrows(WeightMismatchException.class,
                    () -> SD3Transformer2DModel.loadSingleFile(c, broken, m, DataType.FLOAT32));
            assertEquals(List.of("transformer_blocks.0.attn.norm_k.weight"), e.missing(), e.getMessage());
            assertEquals(List.of(unknown), e.unexpected(), e.getMessage());
        }
    }

    private Path write(Path layout, String name, Sd3SingleFileWriter.Parts parts) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Path file = dir.resolve(name + ".safetensors");
        Sd3SingleFileWriter.write(layout.resolve("model"), file, parts);
        return file;
    }

    static GenerationRequest request(JsonNode meta, int steps) {
        return GenerationRequest.of(meta.get("prompt").asText(), meta.path("negative_prompt").asText(""),
                meta.get("width").asInt(), meta.get("height").asInt(), steps, meta.get("guidance_scale").asDouble(),
                meta.get("seed").asLong());
    }

    /** Every record component equal, except those in {@code conventions} (component name to why it may differ). */
    private static void assertRecordEquals(String what, Record expected, Record actual,
            Map<String, String> conventions) throws Exception {
        assertEquals(expected.getClass(), actual.getClass());
        List<String> diffs = new ArrayList<>();
        for (RecordComponent rc : expected.getClass().getRecordComponents()) {
            Object e = rc.getAccessor().invoke(expected);
            Object a = rc.getAccessor().invoke(actual);
            if (!Objects.equals(e, a) && !conventions.containsKey(rc.getName())) {
                diffs.add(rc.getName() + ": config folder " + e + ", detected " + a);
            }
        }
        assertTrue(diffs.isEmpty(), what + ": " + String.join("; ", diffs));
    }

    static void copyTree(Path from, Path to) throws IOException {
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
