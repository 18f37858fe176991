package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.flux.BflLayout;
import dev.jdiffuse.models.flux.FluxTransformerConfig;
import dev.jdiffuse.models.transformer.DiffusersWeights;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.GgufWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a FLUX.1 diffusers folder ({@code layouts/flux_*}/model) the two ways people have FLUX files:
 * <ul>
 *   <li>{@link #comfyCheckpoint}: one file, ComfyUI's checkpoint layout: the transformer in Black Forest Labs' names
 *       under {@code model.diffusion_model.}, the VAE in LDM names under {@code vae.}, CLIP-L and T5 in transformers'
 *       names under {@code text_encoders.clip_l.transformer.} and {@code text_encoders.t5xxl.transformer.};</li>
 *   <li>{@link #bflFiles}: Black Forest Labs' transformer-only file (bare names), with {@code ae.safetensors} (bare LDM
 *       VAE names) and {@code text_encoders/clip_l.safetensors}, {@code text_encoders/t5xxl_fp16.safetensors} beside
 *       it, as ComfyUI users keep them.</li>
 * </ul>
 * The transformer goes through {@link BflLayout}, the inverse of diffusers' conversion written independently of the
 * loader's key table; values are float32 copies of the layout's BF16 (exact).
 */
public final class FluxSingleFileWriter {

    private FluxSingleFileWriter() {
    }

    static void comfyCheckpoint(Path model, Path out) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        transformer(model, "model.diffusion_model.", t);
        Sd3SingleFileWriter.vae(model, "vae.", t);
        Sd3SingleFileWriter.text(model.resolve("text_encoder/model.safetensors"), "text_encoders.clip_l.transformer.",
                false, t);
        Sd3SingleFileWriter.text(model.resolve("text_encoder_2/model.safetensors"),
                "text_encoders.t5xxl.transformer.", true, t);
        SafetensorsWriter.write(out, t);
    }

    /** Writes {@code dir/<name>.safetensors} and what it needs beside it; returns the transformer file. */
    public static Path bflFiles(Path model, Path dir, String name) {
        try {
            Files.createDirectories(dir.resolve("text_encoders"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, TensorData> t = new LinkedHashMap<>();
        transformer(model, "", t);
        Path file = dir.resolve(name + ".safetensors");
        SafetensorsWriter.write(file, t);
        Map<String, TensorData> ae = new LinkedHashMap<>();
        Sd3SingleFileWriter.vae(model, "", ae);
        SafetensorsWriter.write(dir.resolve("ae.safetensors"), ae);
        Map<String, TensorData> clip = new LinkedHashMap<>();
        Sd3SingleFileWriter.text(model.resolve("text_encoder/model.safetensors"), "", false, clip);
        SafetensorsWriter.write(dir.resolve("text_encoders/clip_l.safetensors"), clip);
        Map<String, TensorData> t5 = new LinkedHashMap<>();
        Sd3SingleFileWriter.text(model.resolve("text_encoder_2/model.safetensors"), "", true, t5);
        SafetensorsWriter.write(dir.resolve("text_encoders/t5xxl_fp16.safetensors"), t5);
        return file;
    }

    /** How {@link #ggufFiles} stores the transformer's tensors. */
    public enum GgufStorage {
        /** every tensor F32 */
        F32,
        /** 2-D weights F16, the rest F32 (city96's F16 files) */
        F16,
        /** 2-D weights whose rows are whole 32-element blocks Q8_0, the rest F32 (city96's Q8_0 files) */
        Q8_0
    }

    /**
     * As {@link #bflFiles}, with the transformer written as {@code dir/<name>.gguf} (bare BFL names, ggml dimensions
     * reversed by the test-side {@link GgufWriter}) instead of a safetensors file; returns the GGUF file.
     */
    public static Path ggufFiles(Path model, Path dir, String name, GgufStorage storage) {
        Path safetensors = bflFiles(model, dir, name);
        GgufWriter w = new GgufWriter().metadata("general.architecture", "flux")
                .metadata("general.file_type", storage.ordinal());
        try (SafetensorsStateDict bfl = SafetensorsStateDict.open(safetensors)) {
            for (String k : bfl.keys()) {
                addTensor(w, k, bfl.shape(k), bfl.source().toFloatArray(k), storage);
            }
        }
        Path file = dir.resolve(name + ".gguf");
        w.write(file);
        try {
            Files.delete(safetensors);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** Adds one tensor to {@code w} stored as {@code storage} says for its rank and width. */
    static void addTensor(GgufWriter w, String name, long[] shape, float[] v, GgufStorage storage) {
        boolean matrix = shape.length == 2;
        if (storage == GgufStorage.Q8_0 && matrix && shape[1] % 32 == 0) {
            w.q8_0(name, shape, v);
        } else if (storage != GgufStorage.F32 && matrix) {
            w.f16(name, shape, v);
        } else {
            w.f32(name, shape, v);
        }
    }

    private static void transformer(Path model, String prefix, Map<String, TensorData> t) {
        Path folder = model.resolve("transformer");
        FluxTransformerConfig c = FluxTransformerConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict diffusers = DiffusersWeights.open(folder);
                NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Map<String, NDArray> bfl = BflLayout.fromDiffusers(diffusers, c.numLayers(), c.numSingleLayers(), m);
            bfl.forEach((k, v) -> t.put(prefix + k, TensorData.ofFloats(v.getShape().getShape(), v.toFloatArray())));
        }
    }

    /**
     * A config folder ({@code X.config/} beside a single file) with only what the tiny model cannot be detected by; T5's
     * config and the scheduler are detected / defaulted.
     */
    public static Path minimalConfig(Path model, Path dir) {
        try {
            return writeMinimalConfig(model, dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path writeMinimalConfig(Path model, Path dir) throws IOException {
        // transformer: RoPE axes are not in the file; vae, text_encoder: the tiny widths (VAE 16..32, CLIP 32) break
        // the conventions that read real FLUX.1 files (32 groups, 64-wide heads), so their configs are given too
        for (String component : new String[] {"transformer", "vae", "text_encoder"}) {
            Files.createDirectories(dir.resolve(component));
            Files.copy(model.resolve(component + "/config.json"), dir.resolve(component + "/config.json"));
        }
        for (String t : new String[] {"tokenizer", "tokenizer_2"}) {
            Files.createDirectories(dir.resolve(t));
            try (var s = Files.list(model.resolve(t))) {
                for (Path p : s.toList()) {
                    Files.copy(p, dir.resolve(t).resolve(p.getFileName()));
                }
            }
        }
        return dir;
    }
}
