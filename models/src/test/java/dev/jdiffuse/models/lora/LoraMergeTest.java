package dev.jdiffuse.models.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The merge formula on a tiny module tree, without fixtures: a LoCon convolution (3x3 {@code down}, 1x1 {@code up})
 * and a linear layer without alpha, against {@code W + scale * alpha / r * sum_r up[o, r] down[r, ...]} written out
 * element by element; taking the set off puts the very arrays that were loaded back.
 */
class LoraMergeTest {

    private static final int RANK = 2;

    @TempDir
    Path tmp;

    /** {@code conv}: Conv2d 3 -> 4, 3x3; {@code proj}: Linear 5 -> 6. */
    private static final class Tiny extends Module {
        Tiny() {
            child("conv", new Conv2d(3, 4, 3, 1, 1, true));
            child("proj", new Linear(5, 6, false));
        }
    }

    @Test
    void loconConvolutionAndLinearMergeAsTheFormulaSays() {
        Random rnd = new Random(7);
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, long[]> shapes = Map.of("conv.weight", new long[] {4, 3, 3, 3}, "conv.bias", new long[] {4},
                "proj.weight", new long[] {6, 5});
        shapes.forEach((k, s) -> values.put(k, random(rnd, (int) new Shape(s).size())));
        float[] convDown = random(rnd, RANK * 3 * 3 * 3);
        float[] convUp = random(rnd, 4 * RANK);
        float[] projDown = random(rnd, RANK * 5);
        float[] projUp = random(rnd, 6 * RANK);
        float alpha = 1.0f;
        Path file = tmp.resolve("locon.safetensors");
        SafetensorsWriter.write(file, Map.of(
                "lora_unet_conv.lora_down.weight", TensorData.ofFloats(DType.F32, new long[] {RANK, 3, 3, 3}, convDown),
                "lora_unet_conv.lora_up.weight", TensorData.ofFloats(DType.F32, new long[] {4, RANK, 1, 1}, convUp),
                "lora_unet_conv.alpha", TensorData.ofFloats(DType.F32, new long[] {}, new float[] {alpha}),
                "lora_unet_proj.lora_down.weight", TensorData.ofFloats(DType.F32, new long[] {RANK, 5}, projDown),
                "lora_unet_proj.lora_up.weight", TensorData.ofFloats(DType.F32, new long[] {6, RANK}, projUp)));
        LoraFile lora = LoraFile.read(file);
        assertEquals(LoraFormat.KOHYA, lora.format());

        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Tiny tiny = new Tiny();
            WeightLoader.load(tiny, StateDict.of(shapes.keySet(), shapes::get,
                    (k, m, t) -> m.create(values.get(k), new Shape(shapes.get(k)))), manager, DataType.FLOAT32, "tiny");
            Parameter conv = tiny.namedParameters().get("conv.weight");
            Parameter proj = tiny.namedParameters().get("proj.weight");
            NDArray convLoaded = conv.get();
            NDArray projLoaded = proj.get();
            LoraTargets targets = new LoraTargets(Map.of("unet", tiny), null);
            LoraPatcher patcher = new LoraPatcher(manager, () -> targets);
            assertEquals(List.of(), patcher.problems(lora));
            double scale = 0.5;
            try (LoraPatcher.Lease lease = patcher.use(List.of(new LoraSpec("locon", lora, scale)))) {
                assertArrayEquals(merged(values.get("conv.weight"), convUp, convDown, 4, 27, scale * alpha / RANK),
                        conv.get().toFloatArray(), 1e-5f);
                assertArrayEquals(merged(values.get("proj.weight"), projUp, projDown, 6, 5, scale * RANK / RANK),
                        proj.get().toFloatArray(), 1e-5f, "no alpha: alpha = rank");
            }
            patcher.use(List.of()).close();
            assertSame(convLoaded, conv.get(), "the loaded array itself is back");
            assertSame(projLoaded, proj.get());
        }
    }

    /** {@code w[o, j] + factor * sum_r up[o, r] down[r, j]} over the flattened inputs j. */
    private static float[] merged(float[] w, float[] up, float[] down, int out, int in, double factor) {
        float[] expected = w.clone();
        for (int o = 0; o < out; o++) {
            for (int j = 0; j < in; j++) {
                double sum = 0;
                for (int r = 0; r < RANK; r++) {
                    sum += (double) up[o * RANK + r] * down[r * in + j];
                }
                expected[o * in + j] += (float) (factor * sum);
            }
        }
        return expected;
    }

    private static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }
}
