package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.checkpoint.CheckpointDetector;
import dev.jdiffuse.models.checkpoint.CheckpointFamily;
import dev.jdiffuse.models.checkpoint.DetectedCheckpoint;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SD 2.x single files as released carry the text encoder as an OpenCLIP tower ({@code cond_stage_model.model.*},
 * fused {@code in_proj}, one layer more than diffusers keeps). The {@code single_file/sd2v} fixture holds it in
 * transformers' naming (diffusers' script recognises SD 2 by a {@code text_model.}-prefixed key that transformers 5 no
 * longer writes), so this test rewrites that encoder the way the script meant to ({@code
 * convert_text_enc_state_dict_v20}: q, k, v concatenated by rows into {@code in_proj}, OpenCLIP names) and adds what a
 * released file has besides: a 24th resblock (here a copy of the first, which SD 2.x never uses, as it conditions on
 * the penultimate layer), {@code text_projection} and {@code logit_scale}. Served with {@code sd2v.config/}, the
 * rewritten file must reproduce {@code layouts/sd2v}'s image (max|diff| <= 2e-3), and its detected text encoder must
 * have the config folder's 23 layers.
 */
class OpenClipSingleFileParityTest {

    private static final double TOL = 2e-3;
    private static final String HF = "cond_stage_model.transformer.";
    private static final String OPEN_CLIP = "cond_stage_model.model.";

    @Test
    void sd2OpenClipTowerReproducesTheLayout(@TempDir Path tmp) throws Exception {
        Path c = Fixtures.require("single_file/sd2v");
        Path layout = Fixtures.require("layouts/sd2v");
        Path file = tmp.resolve("sd2v_openclip.safetensors");
        int layers;
        try (SafetensorsFile in = SafetensorsFile.open(c.resolve("sd2v.safetensors"))) {
            layers = rewrite(in, file);
        }
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(file)) {
            DetectedCheckpoint d = CheckpointDetector.detect(sd, file.toString(), null);
            assertEquals(CheckpointFamily.SD2, d.family());
            assertTrue(d.textEncoder().openClip());
            ClipTextConfig folder = ClipTextConfig.read(c.resolve("sd2v.config/text_encoder/config.json"));
            assertEquals(layers, folder.numHiddenLayers(), "the fixture's encoder");
            assertEquals(folder.numHiddenLayers(), d.textEncoder().detected().numHiddenLayers(),
                    "24 resblocks in the file, 23 used");
            assertEquals("gelu", d.textEncoder().detected().hiddenAct());
        }
        JsonNode meta = Fixtures.meta(layout);
        try (DiffusionPipeline pipe = Pipelines.open(file, LoadOptions.cpu()
                .withSingleFileConfig(c.resolve("sd2v.config")));
                SafetensorsFile io = SafetensorsFile.open(layout.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.path("negative_prompt").asText(""), meta.get("width").asInt(), meta.get("height").asInt(),
                    meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                    meta.get("seed").asLong());
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            double e = Close.assertMaxAbs("sd2v OpenCLIP image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("single_file/sd2v with an OpenCLIP tower vs layouts/sd2v image %.3e", e));
        }
    }

    /** Writes {@code in} with its text encoder as an OpenCLIP tower; returns the encoder's layer count. */
    private static int rewrite(SafetensorsFile in, Path out) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        int layers = 0;
        while (in.contains(HF + "encoder.layers." + layers + ".layer_norm1.weight")) {
            layers++;
        }
        for (String k : in.names()) {
            if (!k.startsWith(HF)) {
                t.put(k, copy(in, k));
            }
        }
        t.put(OPEN_CLIP + "token_embedding.weight", copy(in, HF + "embeddings.token_embedding.weight"));
        t.put(OPEN_CLIP + "positional_embedding", copy(in, HF + "embeddings.position_embedding.weight"));
        t.put(OPEN_CLIP + "ln_final.weight", copy(in, HF + "final_layer_norm.weight"));
        t.put(OPEN_CLIP + "ln_final.bias", copy(in, HF + "final_layer_norm.bias"));
        for (int i = 0; i <= layers; i++) {
            // block `layers` is the extra last one of a released file: a copy of block 0, never used
            String src = HF + "encoder.layers." + (i == layers ? 0 : i) + ".";
            String dst = OPEN_CLIP + "transformer.resblocks." + i + ".";
            t.put(dst + "ln_1.weight", copy(in, src + "layer_norm1.weight"));
            t.put(dst + "ln_1.bias", copy(in, src + "layer_norm1.bias"));
            t.put(dst + "ln_2.weight", copy(in, src + "layer_norm2.weight"));
            t.put(dst + "ln_2.bias", copy(in, src + "layer_norm2.bias"));
            t.put(dst + "mlp.c_fc.weight", copy(in, src + "mlp.fc1.weight"));
            t.put(dst + "mlp.c_fc.bias", copy(in, src + "mlp.fc1.bias"));
            t.put(dst + "mlp.c_proj.weight", copy(in, src + "mlp.fc2.weight"));
            t.put(dst + "mlp.c_proj.bias", copy(in, src + "mlp.fc2.bias"));
            t.put(dst + "attn.out_proj.weight", copy(in, src + "self_attn.out_proj.weight"));
            t.put(dst + "attn.out_proj.bias", copy(in, src + "self_attn.out_proj.bias"));
            t.put(dst + "attn.in_proj_weight", rows(in, src + "self_attn.", "weight"));
            t.put(dst + "attn.in_proj_bias", rows(in, src + "self_attn.", "bias"));
        }
        long width = in.info(HF + "final_layer_norm.weight").shape()[0];
        t.put(OPEN_CLIP + "text_projection", TensorData.ofFloats(DType.F16, new long[] {width, width},
                new float[(int) (width * width)]));
        t.put(OPEN_CLIP + "logit_scale", TensorData.ofFloats(DType.F16, new long[] {}, new float[] {4.6f}));
        SafetensorsWriter.write(out, t);
        return layers;
    }

    /** q, k, v of one layer concatenated by rows (row-major bytes one after the other). */
    private static TensorData rows(SafetensorsFile in, String prefix, String kind) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        long[] shape = in.info(prefix + "q_proj." + kind).shape();
        for (String p : new String[] {"q_proj.", "k_proj.", "v_proj."}) {
            bytes.writeBytes(bytesOf(in, prefix + p + kind));
        }
        long[] fused = shape.clone();
        fused[0] *= 3;
        return TensorData.of(in.info(prefix + "q_proj." + kind).dtype(), fused, bytes.toByteArray());
    }

    private static TensorData copy(SafetensorsFile in, String key) {
        TensorInfo info = in.info(key);
        return TensorData.of(info.dtype(), info.shape(), bytesOf(in, key));
    }

    private static byte[] bytesOf(SafetensorsFile in, String key) {
        ByteBuffer b = in.buffer(key).duplicate();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
