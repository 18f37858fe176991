package dev.jdiffuse.models.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Writes a tiny Stable-Diffusion-1-shaped (or XL-shaped) pipeline folder with seeded random float16 weights, exactly in the
 * diffusers layout, so that a fresh checkout has a model to serve (no weights can be downloaded). It exercises every
 * component (tokenizer, CLIP text encoder, UNet with cross-attention, VAE, scheduler) but was never trained: its
 * pictures are smooth coloured noise that changes with the seed and the prompt, not images of anything.
 */
public final class TinyPipelineWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyPipelineWriter() {
    }

    /** Writes the pipeline into {@code folder} (created; existing files overwritten). */
    public static void write(Path folder, long seed) {
        write(folder, seed, false);
    }

    /**
     * The same in the Stable Diffusion XL layout: two text encoders (the second with a projection, whose pooled
     * output and the size/crop ids feed the UNet's {@code text_time} embedding), {@code tokenizer_2}.
     */
    public static void writeXl(Path folder, long seed) {
        write(folder, seed, true);
    }

    private static void write(Path folder, long seed, boolean xl) {
        try {
            Random rnd = new Random(seed);
            Files.createDirectories(folder);
            ObjectNode index = modelIndex();
            if (xl) {
                index.put("_class_name", "StableDiffusionXLPipeline");
                index.set("text_encoder_2", strings("transformers", "CLIPTextModelWithProjection"));
                index.set("tokenizer_2", strings("transformers", "CLIPTokenizer"));
                index.put("force_zeros_for_empty_prompt", true);
            }
            writeJson(folder.resolve("model_index.json"), index);
            writeTokenizer(folder.resolve("tokenizer"));
            int textWidth = xl ? 32 : 64;
            if (xl) {
                writeTokenizer(folder.resolve("tokenizer_2"));
                ObjectNode te2 = JSON.createObjectNode().put("hidden_size", 32).put("intermediate_size", 64)
                        .put("num_attention_heads", 2).put("num_hidden_layers", 2).put("max_position_embeddings", 77)
                        .put("vocab_size", 514).put("bos_token_id", 512).put("eos_token_id", 513)
                        .put("pad_token_id", 513).put("hidden_act", "gelu").put("layer_norm_eps", 1e-5)
                        .put("projection_dim", 16);
                te2.set("architectures", JSON.createArrayNode().add("CLIPTextModelWithProjection"));
                Path te2Dir = folder.resolve("text_encoder_2");
                writeJson(te2Dir.resolve("config.json"), te2);
                writeWeights(te2Dir.resolve("model.safetensors"),
                        new ClipTextModel(ClipTextConfig.from(ConfigJson.of("tiny text_encoder_2", te2))), rnd);
            }

            ObjectNode te = JSON.createObjectNode().put("hidden_size", textWidth).put("intermediate_size", 128)
                    .put("num_attention_heads", 2).put("num_hidden_layers", 2).put("max_position_embeddings", 77)
                    .put("vocab_size", 514).put("bos_token_id", 512).put("eos_token_id", 513)
                    .put("pad_token_id", 513).put("hidden_act", "quick_gelu").put("layer_norm_eps", 1e-5);
            te.set("architectures", JSON.createArrayNode().add("CLIPTextModel"));
            Path teDir = folder.resolve("text_encoder");
            writeJson(teDir.resolve("config.json"), te);
            ClipTextModel clip = new ClipTextModel(ClipTextConfig.from(ConfigJson.of("tiny text_encoder", te)));
            writeWeights(teDir.resolve("model.safetensors"), clip, rnd);

            ObjectNode unet = JSON.createObjectNode().put("sample_size", 32).put("in_channels", 4)
                    .put("out_channels", 4).put("layers_per_block", 1).put("cross_attention_dim", 64)
                    .put("attention_head_dim", 4).put("norm_num_groups", 8);
            unet.set("block_out_channels", ints(32, 64));
            unet.set("down_block_types", strings("CrossAttnDownBlock2D", "DownBlock2D"));
            unet.set("up_block_types", strings("UpBlock2D", "CrossAttnUpBlock2D"));
            if (xl) {
                unet.put("addition_embed_type", "text_time").put("addition_time_embed_dim", 8)
                        .put("projection_class_embeddings_input_dim", 6 * 8 + 16).put("use_linear_projection", true);
            }
            Path unetDir = folder.resolve("unet");
            writeJson(unetDir.resolve("config.json"), unet);
            writeWeights(unetDir.resolve("diffusion_pytorch_model.safetensors"),
                    new UNet2DConditionModel(UNet2DConditionConfig.from(ConfigJson.of("tiny unet", unet))), rnd);

            ObjectNode vae = JSON.createObjectNode().put("in_channels", 3).put("out_channels", 3)
                    .put("latent_channels", 4).put("layers_per_block", 1).put("norm_num_groups", 8)
                    .put("sample_size", 256).put("scaling_factor", 0.18215);
            vae.set("block_out_channels", ints(16, 32, 32, 32));
            vae.set("down_block_types", strings("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                    "DownEncoderBlock2D"));
            vae.set("up_block_types", strings("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                    "UpDecoderBlock2D"));
            Path vaeDir = folder.resolve("vae");
            writeJson(vaeDir.resolve("config.json"), vae);
            writeWeights(vaeDir.resolve("diffusion_pytorch_model.safetensors"),
                    AutoencoderKL.unloaded(AutoencoderKLConfig.read(ConfigJson.of("tiny vae", vae))), rnd);

            ObjectNode sched = JSON.createObjectNode().put("_class_name", "EulerAncestralDiscreteScheduler")
                    .put("num_train_timesteps", 1000).put("beta_start", 0.00085).put("beta_end", 0.012)
                    .put("beta_schedule", "scaled_linear").put("prediction_type", "epsilon")
                    .put("timestep_spacing", "leading").put("steps_offset", 1);
            writeJson(folder.resolve("scheduler/scheduler_config.json"), sched);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tiny pipeline to " + folder, e);
        }
    }

    private static ObjectNode modelIndex() {
        ObjectNode n = JSON.createObjectNode().put("_class_name", "StableDiffusionPipeline")
                .put("_diffusers_version", "0.40.0").put("requires_safety_checker", false);
        n.set("scheduler", strings("diffusers", "EulerAncestralDiscreteScheduler"));
        n.set("text_encoder", strings("transformers", "CLIPTextModel"));
        n.set("tokenizer", strings("transformers", "CLIPTokenizer"));
        n.set("unet", strings("diffusers", "UNet2DConditionModel"));
        n.set("vae", strings("diffusers", "AutoencoderKL"));
        n.put("description", "jdiffuse demo: random weights, never trained; pictures are coloured noise");
        return n;
    }

    /** A byte-level CLIP vocabulary without merges: every word is spelled letter by letter. */
    private static void writeTokenizer(Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        String[] alphabet = byteAlphabet();
        for (String s : alphabet) {
            vocab.put(s, vocab.size());
        }
        for (String s : alphabet) {
            vocab.put(s + "</w>", vocab.size());
        }
        vocab.put("<|startoftext|>", vocab.size());
        vocab.put("<|endoftext|>", vocab.size());
        JSON.writeValue(dir.resolve("vocab.json").toFile(), vocab);
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n");
        ObjectNode cfg = JSON.createObjectNode().put("model_max_length", 77).put("bos_token", "<|startoftext|>")
                .put("eos_token", "<|endoftext|>").put("pad_token", "<|endoftext|>").put("unk_token", "<|endoftext|>")
                .put("tokenizer_class", "CLIPTokenizer");
        writeJson(dir.resolve("tokenizer_config.json"), cfg);
    }

    /** GPT-2/CLIP's reversible byte-to-unicode table ({@code bytes_to_unicode}). */
    private static String[] byteAlphabet() {
        String[] out = new String[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            out[b] = printable ? String.valueOf((char) b) : String.valueOf((char) (256 + n++));
        }
        return out;
    }

    /**
     * Random float16 weights for every parameter of {@code module}: matrices and kernels with PyTorch's default
     * scale (std {@code 1/sqrt(3 fan_in)}), norm scales 1, biases 0.
     */
    private static void writeWeights(Path file, Module module, Random rnd) throws IOException {
        Files.createDirectories(file.getParent());
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : module.namedParameters().entrySet()) {
            long[] shape = e.getValue().shape().getShape();
            int n = (int) e.getValue().shape().size();
            float[] v = new float[n];
            if (shape.length >= 2) {
                double std = 1 / Math.sqrt(3.0 * (n / shape[0]));
                for (int i = 0; i < n; i++) {
                    v[i] = (float) (rnd.nextGaussian() * std);
                }
            } else if (e.getKey().endsWith("weight")) {
                java.util.Arrays.fill(v, 1f);
            }
            tensors.put(e.getKey(), TensorData.ofFloats(DType.F16, shape, v));
        }
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
    }

    private static void writeJson(Path file, ObjectNode node) throws IOException {
        Files.createDirectories(file.getParent());
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), node);
    }

    private static ArrayNode ints(int... v) {
        ArrayNode a = JSON.createArrayNode();
        for (int x : v) {
            a.add(x);
        }
        return a;
    }

    private static ArrayNode strings(String... v) {
        ArrayNode a = JSON.createArrayNode();
        for (String x : v) {
            a.add(x);
        }
        return a;
    }
}
