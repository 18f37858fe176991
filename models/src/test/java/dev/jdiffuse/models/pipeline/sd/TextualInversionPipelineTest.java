package dev.jdiffuse.models.pipeline.sd;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.prompt.PromptSyntax;
import dev.jdiffuse.models.textinv.EmbeddingSet;
import dev.jdiffuse.models.textinv.TextualInversionFile;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decisive check of textual inversion on the tiny SD 1.x and SDXL fixtures: an embedding whose vectors are the
 * text encoder's own token-embedding rows of "red apple" (read from the model's weights; for SDXL one table per
 * encoder) conditions exactly as "red apple" written out, emphasis included, and so gives the same image; other
 * vectors change the image; a replaced file is not answered from the prompt cache; a width the model's encoders do
 * not have is refused naming the field.
 *
 * <p>Both sides run op by op ({@code jdiffuse.scripted=false}): a prompt with an embedding always does, and the
 * TorchScript encoder agrees with the op-by-op one only to a tolerance.
 */
class TextualInversionPipelineTest {

    /** transformers' CLIPTextModel saves it with or without the {@code text_model.} prefix. */
    private static String tokenTable(SafetensorsFile st) {
        String key = "embeddings.token_embedding.weight";
        return st.contains(key) ? key : "text_model." + key;
    }
    private static String scripted;

    @TempDir
    Path tmp;

    @BeforeAll
    static void opByOp() {
        scripted = System.getProperty("jdiffuse.scripted");
        System.setProperty("jdiffuse.scripted", "false");
    }

    @AfterAll
    static void restore() {
        if (scripted == null) {
            System.clearProperty("jdiffuse.scripted");
        } else {
            System.setProperty("jdiffuse.scripted", scripted);
        }
    }

    /** The rows of {@code words}' token ids in an encoder's token-embedding table. */
    private static float[] rows(Path model, String encoder, String tokenizer, String words) {
        int[] ids = ClipTokenizer.load(model.resolve(tokenizer)).encode(words);
        try (SafetensorsFile st = SafetensorsFile.open(model.resolve(encoder).resolve("model.safetensors"))) {
            int d = (int) st.info(tokenTable(st)).shape()[1];
            float[] table = st.toFloatArray(tokenTable(st));
            float[] out = new float[ids.length * d];
            for (int i = 0; i < ids.length; i++) {
                System.arraycopy(table, ids[i] * d, out, i * d, d);
            }
            return out;
        }
    }

    private static TensorData tensor(float[] rows, int width) {
        return TensorData.ofFloats(new long[] {rows.length / width, width}, rows);
    }

    private static int width(Path model, String encoder) {
        try (SafetensorsFile st = SafetensorsFile.open(model.resolve(encoder).resolve("model.safetensors"))) {
            return (int) st.info(tokenTable(st)).shape()[1];
        }
    }

    private EmbeddingSet set(Path file) {
        return new EmbeddingSet(List.of(TextualInversionFile.read(file)));
    }

    private static float[] image(DiffusionPipeline pipe, GenerationRequest r) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }

    private static float[][] conditioning(StableDiffusionFamily sd, String prompt, EmbeddingSet set) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            SdPromptEncoder.Encoded e = sd.prompts().encode(job, prompt, 1, 1, PromptSyntax.A1111, set);
            return new float[][] {e.context().toFloatArray(), e.pooled() == null ? new float[0]
                    : e.pooled().toFloatArray()};
        }
    }

    private static GenerationRequest request(String prompt, String negative) {
        return GenerationRequest.of(prompt, negative, 64, 64, 3, 7.5, 5).withSampler("euler", "default");
    }

    @Test
    void sd1EmbeddingOfRedAppleIsRedApple() {
        Path model = Fixtures.require("pipeline_sd1/model");
        int d = width(model, "text_encoder");
        Path file = tmp.resolve("zqx.safetensors");
        SafetensorsWriter.write(file, Map.of("emb_params",
                tensor(rows(model, "text_encoder", "tokenizer", "red apple"), d)));
        try (DiffusionPipeline pipe = Pipelines.open(model, LoadOptions.cpu())) {
            StableDiffusionFamily sd = (StableDiffusionFamily) pipe.architecture();
            EmbeddingSet set = set(file);
            sd.useEmbeddings(() -> set);
            assertArrayEquals(conditioning(sd, "a red apple on a (red apple:1.3) table", EmbeddingSet.EMPTY)[0],
                    conditioning(sd, "a zqx on a (zqx:1.3) table", set)[0], "A1111 name");
            assertArrayEquals(conditioning(sd, "a red apple on a table", EmbeddingSet.EMPTY)[0],
                    conditioning(sd, "a embedding:zqx on a table", set)[0], "ComfyUI embedding:name");
            float[] written = image(pipe, request("a red apple on a table", "blurry red apple"));
            float[] embedded = image(pipe, request("a zqx on a table", "blurry zqx"));
            assertArrayEquals(written, embedded, "the same image");

            // the same file name with other vectors: the cache must not answer with the old encoding
            SafetensorsWriter.write(file, Map.of("emb_params",
                    tensor(rows(model, "text_encoder", "tokenizer", "blue car"), d)));
            EmbeddingSet replaced = set(file);
            sd.useEmbeddings(() -> replaced);
            float[] other = image(pipe, request("a zqx on a table", "blurry zqx"));
            assertFalse(Arrays.equals(embedded, other), "other vectors, another image");
            assertArrayEquals(image(pipe, request("a blue car on a table", "blurry blue car")), other,
                    "the replaced file's vectors, not the cached encoding");
        }
    }

    @Test
    void sdxlEmbeddingOfRedAppleIsRedAppleInBothEncoders() {
        Path model = Fixtures.require("layouts/sdxl/model");
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        tensors.put("clip_l", tensor(rows(model, "text_encoder", "tokenizer", "red apple"),
                width(model, "text_encoder")));
        tensors.put("clip_g", tensor(rows(model, "text_encoder_2", "tokenizer_2", "red apple"),
                width(model, "text_encoder_2")));
        Path file = tmp.resolve("zqx.safetensors");
        SafetensorsWriter.write(file, tensors);
        try (DiffusionPipeline pipe = Pipelines.open(model, LoadOptions.cpu())) {
            StableDiffusionFamily sd = (StableDiffusionFamily) pipe.architecture();
            EmbeddingSet set = set(file);
            sd.useEmbeddings(() -> set);
            float[][] embedded = conditioning(sd, "zqx, a (zqx:0.8) on a table", set);
            assertFalse(Arrays.equals(embedded[0], conditioning(sd, "zqx, a (zqx:0.8) on a table",
                    EmbeddingSet.EMPTY)[0]), "without the embedding the name is other text");
            float[][] written = conditioning(sd, "red apple, a (red apple:0.8) on a table", EmbeddingSet.EMPTY);
            assertArrayEquals(written[0], embedded[0], "context of both encoders");
            assertArrayEquals(written[1], embedded[1], "pooled, from the second encoder");
            assertArrayEquals(image(pipe, request("a red apple", "")), image(pipe, request("a zqx", "")));

            // only the first encoder's width: refused for SDXL, naming the field and the embedding
            Path narrow = tmp.resolve("sd1only.safetensors");
            SafetensorsWriter.write(narrow, Map.of("emb_params", tensors.get("clip_l")));
            EmbeddingSet sd1 = set(narrow);
            sd.useEmbeddings(() -> sd1);
            List<FieldError> errors = pipe.architecture().check(request("a photo", "sd1only, blurry"));
            assertEquals(1, errors.size(), errors.toString());
            assertEquals("negative_prompt", errors.get(0).field());
            assertTrue(errors.get(0).message().contains("sd1only"), errors.get(0).message());
            assertTrue(pipe.architecture().check(request("a photo", "blurry")).isEmpty(), "unused: no error");
        }
    }
}
