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
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /** {@code a}: Linear 5 -> 4, {@code b}: Linear 5 -> 6, {@code c}: Linear 5 -> 4. */
    private static final class Three extends Module {
        Three() {
            child("a", new Linear(5, 4, false));
            child("b", new Linear(5, 6, false));
            child("c", new Linear(5, 4, false));
        }
    }

    /**
     * A name table's fused layer {@code ab} (up [10, r]) gives {@code a} up's rows 0..3 and {@code b} rows 4..9, down
     * shared; its swapped layer {@code c_swapped} gives {@code c} up's rows 2, 3, 0, 1; a layer whose up rows do not
     * add up to its weights' is a misfit, named.
     */
    @Test
    void fusedLayersSplitUpsRowsAndSwappedHalvesReorderThem() {
        Random rnd = new Random(11);
        Map<String, long[]> shapes = Map.of("a.weight", new long[] {4, 5}, "b.weight", new long[] {6, 5},
                "c.weight", new long[] {4, 5});
        Map<String, float[]> values = new LinkedHashMap<>();
        shapes.forEach((k, s) -> values.put(k, random(rnd, (int) new Shape(s).size())));
        float[] abDown = random(rnd, RANK * 5);
        float[] abUp = random(rnd, 10 * RANK);
        float[] cDown = random(rnd, RANK * 5);
        float[] cUp = random(rnd, 4 * RANK);
        Path file = tmp.resolve("fused.safetensors");
        SafetensorsWriter.write(file, Map.of(
                "lora_unet_ab.lora_down.weight", TensorData.ofFloats(DType.F32, new long[] {RANK, 5}, abDown),
                "lora_unet_ab.lora_up.weight", TensorData.ofFloats(DType.F32, new long[] {10, RANK}, abUp),
                "lora_unet_ab.alpha", TensorData.ofFloats(DType.F32, new long[] {}, new float[] {3f}),
                "lora_unet_c_swapped.lora_down.weight", TensorData.ofFloats(DType.F32, new long[] {RANK, 5}, cDown),
                "lora_unet_c_swapped.lora_up.weight", TensorData.ofFloats(DType.F32, new long[] {4, RANK}, cUp)));
        LoraNameTable table = (target, name) -> switch (name) {
            case "ab" -> LoraNameTable.Entry.stacked("a", "b");
            case "c_swapped" -> new LoraNameTable.Entry(List.of("c"), true);
            case "ac" -> LoraNameTable.Entry.stacked("a", "c");
            default -> null;
        };
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Three three = new Three();
            WeightLoader.load(three, StateDict.of(shapes.keySet(), shapes::get,
                    (k, m, t) -> m.create(values.get(k), new Shape(shapes.get(k)))), manager, DataType.FLOAT32,
                    "three");
            LoraTargets targets = new LoraTargets(Map.of("unet", three), null, table);
            LoraPatcher patcher = new LoraPatcher(manager, () -> targets);
            LoraFile lora = LoraFile.read(file);
            assertEquals(List.of(), patcher.problems(lora));
            double scale = -0.75;
            try (LoraPatcher.Lease lease = patcher.use(List.of(new LoraSpec("fused", lora, scale)))) {
                double factor = scale * 3 / RANK;
                assertArrayEquals(merged(values.get("a.weight"), rows(abUp, 0, 1, 2, 3), abDown, 4, 5, factor),
                        weight(three, "a"), 1e-5f, "a: up's rows 0..3");
                assertArrayEquals(merged(values.get("b.weight"), rows(abUp, 4, 5, 6, 7, 8, 9), abDown, 6, 5, factor),
                        weight(three, "b"), 1e-5f, "b: up's rows 4..9");
                assertArrayEquals(merged(values.get("c.weight"), rows(cUp, 2, 3, 0, 1), cDown, 4, 5, scale),
                        weight(three, "c"), 1e-5f, "c: up's halves swapped");
            }
            // "ac" stacks 4 + 4 rows: an up of 10 rows does not fit
            Path misfit = LoraFixtures.rewrite(file, tmp.resolve("misfit.safetensors"),
                    k -> k.startsWith("lora_unet_ab") ? k.replace("lora_unet_ab", "lora_unet_ac") : null, Map.of());
            List<String> problems = patcher.problems(LoraFile.read(misfit));
            assertEquals(1, problems.size(), problems.toString());
            assertTrue(problems.get(0).contains("ac down (2, 5) up (10, 2) vs weights (4, 5) + (4, 5)"),
                    problems.get(0));
        }
    }

    private static float[] weight(Module m, String name) {
        return m.namedParameters().get(name + ".weight").get().toFloatArray();
    }

    /** The listed rows of up [rows, RANK], stacked. */
    private static float[] rows(float[] up, int... rows) {
        float[] out = new float[rows.length * RANK];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(up, rows[i] * RANK, out, i * RANK, RANK);
        }
        return out;
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
