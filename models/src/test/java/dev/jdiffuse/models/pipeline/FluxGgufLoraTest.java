package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.lora.LoraFile;
import dev.jdiffuse.models.lora.LoraSpec;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.pipeline.FluxSingleFileWriter.GgufStorage;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A kohya FLUX LoRA on a FLUX.1 transformer loaded from a GGUF file (ComfyUI-GGUF's usual pairing): the F16 GGUF holds
 * the fixture's BF16 weights exactly, so with the same LoRA it must render what the diffusers folder renders with it
 * (CPU float32, within the parity tolerance); the LoRA must change the image, and scale 0 give the GGUF's own image
 * back. Layers: a fused double-block {@code qkv} (split by rows onto to_q/k/v) and a single block's {@code linear2}.
 */
class FluxGgufLoraTest {

    private static final double TOL = 2e-3;

    @TempDir
    Path tmp;

    @Test
    void aLoraOnTheGgufModelRendersWhatItRendersOnTheFolder() throws Exception {
        Path model = Fixtures.require("layouts/flux_dev").resolve("model");
        Path gguf = FluxSingleFileWriter.ggufFiles(model, tmp.resolve("models"), "flux1-tiny-F16", GgufStorage.F16);
        Path config = FluxSingleFileWriter.minimalConfig(model, tmp.resolve("cfg"));
        try (DiffusionPipeline folderBase = Pipelines.open(model, LoadOptions.cpu());
                DiffusionPipeline ggufBase = Pipelines.open(gguf, LoadOptions.cpu().withSingleFileConfig(config))) {
            DiffusionPipeline folder = FluxFamily.withMaxSequenceLength(folderBase, 32);
            DiffusionPipeline fromGguf = FluxFamily.withMaxSequenceLength(ggufBase, 32);
            LoraFile lora = LoraFile.read(kohya(folder.architecture().loraTargets().weights(),
                    tmp.resolve("flux_lora.safetensors")));
            assertEquals("flux", lora.family());
            float[] plainGguf = render(fromGguf, null);
            float[] withFolder = render(folder, new LoraSpec("l", lora, 0.8));
            float[] withGguf = render(fromGguf, new LoraSpec("l", lora, 0.8));
            double worst = maxDiff(withFolder, withGguf);
            System.out.printf("FluxGgufLoraTest: LoRA on GGUF vs on folder max|diff| %.3e; LoRA changes %.3e%n",
                    worst, maxDiff(plainGguf, withGguf));
            assertTrue(worst <= TOL, "max|diff| " + worst);
            assertTrue(maxDiff(plainGguf, withGguf) > 1e-3, "the LoRA changes the GGUF model's image");
            assertTrue(maxDiff(plainGguf, render(fromGguf, new LoraSpec("l", lora, 0))) == 0,
                    "scale 0: the GGUF model's own image");
        }
    }

    /** kohya names of BFL modules, shaped by the model's weights: a fused qkv (3 x hidden rows) and a linear2. */
    private static Path kohya(Map<String, Parameter> weights, Path file) {
        Random rnd = new Random(20261205);
        Map<String, TensorData> t = new LinkedHashMap<>();
        int rank = 4;
        long hidden = weights.get("transformer.transformer_blocks.0.attn.to_q").shape().get(1);
        long linear2In = weights.get("transformer.single_transformer_blocks.0.proj_out").shape().get(1);
        layer(t, "lora_unet_double_blocks_0_img_attn_qkv", rank, hidden, 3 * hidden, rnd);
        layer(t, "lora_unet_single_blocks_0_linear2", rank, linear2In, hidden, rnd);
        SafetensorsWriter.write(file, t);
        return file;
    }

    private static void layer(Map<String, TensorData> t, String name, int rank, long in, long out, Random rnd) {
        t.put(name + ".lora_down.weight", TensorData.ofFloats(new long[] {rank, in}, gaussian(rnd, rank * in)));
        t.put(name + ".lora_up.weight", TensorData.ofFloats(new long[] {out, rank}, gaussian(rnd, out * rank)));
        t.put(name + ".alpha", TensorData.ofFloats(new long[] {}, new float[] {2f}));
    }

    private static float[] gaussian(Random rnd, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextGaussian() * 0.3);
        }
        return v;
    }

    private static float[] render(DiffusionPipeline pipe, LoraSpec lora) {
        GenerationRequest r = GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 2, 3.5, 7)
                .withLoras(lora == null ? List.of() : List.of(lora));
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }
}
