package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LayersTest {

    /** A state dict over arrays already in memory. */
    static StateDict of(Map<String, NDArray> m) {
        return StateDict.of(m.keySet(), key -> m.get(key).getShape().getShape(), (key, manager, dtype) -> {
            NDArray a = m.get(key).toType(dtype, true);
            a.attach(manager);
            return a;
        });
    }

    @Test
    void groupNormMatchesDefinition() {
        try (NDManager w = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            GroupNorm gn = new GroupNorm(2, 4, 1e-5);
            Map<String, NDArray> sd = new HashMap<>();
            sd.put("weight", w.create(new float[] {1, 2, 3, 4}));
            sd.put("bias", w.create(new float[] {0, 1, 0, -1}));
            WeightLoader.load(gn, of(sd), w, DataType.FLOAT32, "gn");
            NDArray x = act.randomNormal(new Shape(2, 4, 3, 3));
            NDArray y = gn.forward(x);
            float[] xs = x.toFloatArray();
            float[] ys = y.toFloatArray();
            // group 1 of batch 1: channels 2,3 -> elements [1*36 + 18, 1*36 + 36)
            int off = 36 + 18;
            double mean = 0;
            for (int i = 0; i < 18; i++) {
                mean += xs[off + i];
            }
            mean /= 18;
            double var = 0;
            for (int i = 0; i < 18; i++) {
                var += (xs[off + i] - mean) * (xs[off + i] - mean);
            }
            var /= 18;
            for (int i = 0; i < 18; i++) {
                int c = 2 + i / 9;
                double expect = (xs[off + i] - mean) / Math.sqrt(var + 1e-5) * (c + 1) + (c == 2 ? 0 : -1);
                assertEquals(expect, ys[off + i], 1e-4);
            }
        }
    }

    @Test
    void loaderListsEveryMissingUnexpectedAndMisshapedKey() {
        try (NDManager w = NDManager.newBaseManager()) {
            class Net extends Module {
                final Linear a = child("a", new Linear(3, 2, true));
                final Conv2d b = child("b", Conv2d.same3x3(2, 2));
            }
            Map<String, NDArray> sd = new HashMap<>();
            sd.put("a.weight", w.zeros(new Shape(2, 3)));
            sd.put("b.weight", w.zeros(new Shape(2, 2, 1, 1)));
            sd.put("c.weight", w.zeros(new Shape(1)));
            WeightMismatchException e = assertThrows(WeightMismatchException.class,
                    () -> WeightLoader.load(new Net(), of(sd), w, DataType.FLOAT32, "net"));
            assertEquals(List.of("a.bias", "b.bias"), e.missing());
            assertEquals(List.of("c.weight"), e.unexpected());
            assertEquals(1, e.wrongShape().size());
            assertTrue(e.getMessage().contains("b.weight"), e.getMessage());
        }
    }

    @Test
    void attentionMatchesNaiveSoftmax() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(1, 2, 4));
            NDArray k = m.randomNormal(new Shape(1, 3, 4));
            NDArray v = m.randomNormal(new Shape(1, 3, 4));
            float[] out = Attention.scaledDotProduct(q, k, v, 2, false, null).toFloatArray();
            float[] qs = q.toFloatArray();
            float[] ks = k.toFloatArray();
            float[] vs = v.toFloatArray();
            float[] expect = new float[8];
            for (int h = 0; h < 2; h++) {
                for (int i = 0; i < 2; i++) {
                    double[] s = new double[3];
                    double max = -1e30;
                    for (int j = 0; j < 3; j++) {
                        for (int d = 0; d < 2; d++) {
                            s[j] += qs[i * 4 + h * 2 + d] * ks[j * 4 + h * 2 + d] / Math.sqrt(2);
                        }
                        max = Math.max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < 3; j++) {
                        s[j] = Math.exp(s[j] - max);
                        z += s[j];
                    }
                    for (int d = 0; d < 2; d++) {
                        double acc = 0;
                        for (int j = 0; j < 3; j++) {
                            acc += s[j] / z * vs[j * 4 + h * 2 + d];
                        }
                        expect[i * 4 + h * 2 + d] = (float) acc;
                    }
                }
            }
            assertArrayEquals(expect, out, 1e-5f);
        }
    }
}
