package dev.jdiffuse.models.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightMismatchException;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The T5 encoder against an independent double-precision computation written out in this test (RMS norm, unscaled
 * attention with relative position bias, gated GELU / ReLU feed-forward), on small weights made here; and the
 * relative position buckets against values derived from the formula by hand.
 */
class T5EncoderModelBehaviourTest {

    @Test
    void bucketsMatchHandDerivedValues() {
        // num_buckets 32, max_distance 128: n = 16 per direction, max_exact = 8, keys after the query use 16..31.
        // |rel| >= 8: 8 + floor(ln(|rel|/8) / ln(16) * 8), capped at 15.
        int[][] relToBucket = {
            {0, 0}, {-1, 1}, {1, 17}, {-3, 3}, {3, 19}, {-7, 7}, {7, 23},
            {-8, 8}, // ln(1) = 0
            {-11, 8}, // ln(11/8)/ln(16)*8 = 0.919
            {-12, 9}, // ln(1.5)/ln(16)*8 = 1.17
            {-16, 10}, // ln(2)/ln(16)*8 = 2 exactly in reals: float32 gives 2.0 -> 8 + 2
            {32, 28}, // ln(4)/ln(16)*8 = 4 -> 16 + 12
            {-127, 15}, // 7.97 -> 15
            {-128, 15}, // 8 -> 16, capped at 15
            {1000, 31}, {-1000, 15},
        };
        for (int[] rb : relToBucket) {
            assertEquals(rb[1], T5RelativePosition.bucket(rb[0], 32, 128), "relative position " + rb[0]);
        }
        long[] grid = T5RelativePosition.buckets(3, 32, 128);
        assertEquals(List.of(0L, 17L, 18L, 1L, 0L, 17L, 2L, 1L, 0L),
                java.util.Arrays.stream(grid).boxed().toList(), "[query][key] = bucket(key - query)");
    }

    @Test
    void gatedGeluEncoderMatchesAnIndependentDoubleComputation() {
        check(T5Config.GATED_GELU);
    }

    @Test
    void reluEncoderMatchesAnIndependentDoubleComputation() {
        check(T5Config.RELU);
    }

    private static void check(String ff) {
        T5Config c = new T5Config(4, 2, 3, 2, 2, 32, 128, ff, 1e-6, 10);
        Weights w = new Weights(c, 7);
        int[][] ids = {{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, {9, 7, 0, 0, 2, 8, 1, 8, 2, 8, 4, 5}};
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager()) {
            T5EncoderModel model = T5EncoderModel.load(c, w.stateDict(), weights, DataType.FLOAT32);
            NDArray out = model.encode(step, ids);
            assertEquals(new Shape(2, 12, 4), out.getShape());
            float[] got = out.toFloatArray();
            double maxDiff = 0;
            for (int b = 0; b < ids.length; b++) {
                double[][] want = reference(c, w, ids[b]);
                for (int l = 0; l < 12; l++) {
                    for (int d = 0; d < 4; d++) {
                        maxDiff = Math.max(maxDiff, Math.abs(want[l][d] - got[(b * 12 + l) * 4 + d]));
                    }
                }
            }
            assertTrue(maxDiff < 2e-5, ff + ": max |diff| " + maxDiff);
        }
    }

    /** The encoder for one row, in double precision, straight from the definitions. */
    private static double[][] reference(T5Config c, Weights w, int[] ids) {
        int len = ids.length;
        int dm = c.dModel();
        double[][] x = new double[len][dm];
        for (int l = 0; l < len; l++) {
            for (int d = 0; d < dm; d++) {
                x[l][d] = w.get("shared.weight")[ids[l] * dm + d];
            }
        }
        float[] rab = w.get("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
        for (int layer = 0; layer < c.numLayers(); layer++) {
            String p = "encoder.block." + layer + ".layer.";
            double[][] n = rms(x, w.get(p + "0.layer_norm.weight"), c.layerNormEpsilon());
            double[][] q = matT(n, w.get(p + "0.SelfAttention.q.weight"), c.innerDim());
            double[][] k = matT(n, w.get(p + "0.SelfAttention.k.weight"), c.innerDim());
            double[][] v = matT(n, w.get(p + "0.SelfAttention.v.weight"), c.innerDim());
            double[][] att = new double[len][c.innerDim()];
            for (int h = 0; h < c.numHeads(); h++) {
                for (int i = 0; i < len; i++) {
                    double[] s = new double[len];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < len; j++) {
                        for (int d = 0; d < c.dKv(); d++) {
                            s[j] += q[i][h * c.dKv() + d] * k[j][h * c.dKv() + d]; // no 1/sqrt(d_kv)
                        }
                        s[j] += rab[handBucket(j - i) * c.numHeads() + h];
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < len; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j < len; j++) {
                        for (int d = 0; d < c.dKv(); d++) {
                            att[i][h * c.dKv() + d] += s[j] / sum * v[j][h * c.dKv() + d];
                        }
                    }
                }
            }
            add(x, matT(att, w.get(p + "0.SelfAttention.o.weight"), dm));
            n = rms(x, w.get(p + "1.layer_norm.weight"), c.layerNormEpsilon());
            double[][] hidden;
            if (c.gated()) {
                double[][] a = matT(n, w.get(p + "1.DenseReluDense.wi_0.weight"), c.dFf());
                double[][] g = matT(n, w.get(p + "1.DenseReluDense.wi_1.weight"), c.dFf());
                hidden = new double[len][c.dFf()];
                for (int l = 0; l < len; l++) {
                    for (int f = 0; f < c.dFf(); f++) {
                        double u = a[l][f];
                        double gelu = 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));
                        hidden[l][f] = gelu * g[l][f];
                    }
                }
            } else {
                hidden = matT(n, w.get(p + "1.DenseReluDense.wi.weight"), c.dFf());
                for (double[] row : hidden) {
                    for (int f = 0; f < row.length; f++) {
                        row[f] = Math.max(0, row[f]);
                    }
                }
            }
            add(x, matT(hidden, w.get(p + "1.DenseReluDense.wo.weight"), dm));
        }
        return rms(x, w.get("encoder.final_layer_norm.weight"), c.layerNormEpsilon());
    }

    /** Buckets for |rel| < 12 with 32 buckets: exact below 8, 8 for 8..11 (see the hand table above). */
    private static int handBucket(int rel) {
        int r = Math.abs(rel);
        return (rel > 0 ? 16 : 0) + (r < 8 ? r : 8);
    }

    private static double[][] rms(double[][] x, float[] weight, double eps) {
        double[][] out = new double[x.length][x[0].length];
        for (int l = 0; l < x.length; l++) {
            double ms = 0;
            for (double v : x[l]) {
                ms += v * v / x[l].length;
            }
            for (int d = 0; d < x[l].length; d++) {
                out[l][d] = weight[d] * x[l][d] / Math.sqrt(ms + eps);
            }
        }
        return out;
    }

    /** x [L, in] times W^T for W [out, in] row-major. */
    private static double[][] matT(double[][] x, float[] w, int out) {
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int l = 0; l < x.length; l++) {
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    y[l][o] += x[l][i] * w[o * in + i];
                }
            }
        }
        return y;
    }

    private static void add(double[][] x, double[][] y) {
        for (int l = 0; l < x.length; l++) {
            for (int d = 0; d < x[l].length; d++) {
                x[l][d] += y[l][d];
            }
        }
    }

    @Test
    void loadingListsEveryMissingAndUnexpectedKeyAndIgnoresTheTiedEmbedding() {
        T5Config c = new T5Config(4, 2, 3, 2, 2, 32, 128, T5Config.GATED_GELU, 1e-6, 10);
        Weights w = new Weights(c, 1);
        try (NDManager m = NDManager.newBaseManager()) {
            Weights tied = new Weights(c, 1);
            tied.put(T5EncoderModel.TIED_EMBED_TOKENS, new long[] {10, 4});
            T5EncoderModel.load(c, tied.stateDict(), m, DataType.FLOAT32);

            String rab0 = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
            String rab1 = "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight";
            StateDict moved = w.stateDict().renamed(k -> k.equals(rab0) ? rab1 : k.equals("encoder.final_layer_norm.weight")
                    ? null : k);
            WeightMismatchException e = assertThrows(WeightMismatchException.class,
                    () -> T5EncoderModel.load(c, moved, m, DataType.FLOAT32));
            assertEquals(Set.of(rab0, "encoder.final_layer_norm.weight"), Set.copyOf(e.missing()));
            assertEquals(List.of(rab1), e.unexpected());
        }
    }

    @Test
    void configIsDetectedFromShapesAndSingleFilePrefixesAreStripped() {
        for (String ff : List.of(T5Config.GATED_GELU, T5Config.RELU)) {
            T5Config c = new T5Config(8, 2, 5, 3, 4, 16, 128, ff, 1e-6, 11);
            Weights w = new Weights(c, 3);
            assertEquals(c, T5Config.detect(w.stateDict()));
            StateDict bundled = w.stateDict().renamed(k -> "text_encoders.t5xxl.transformer." + k);
            assertEquals(c, T5Config.detect(bundled.renamed(T5Keys::fromSingleFile)));
            try (NDManager m = NDManager.newBaseManager()) {
                T5EncoderModel model = T5EncoderModel.loadSingleFile(bundled, m, DataType.FLOAT32);
                assertEquals(c, model.config());
            }
        }
        assertEquals(null, T5Keys.fromSingleFile("model.diffusion_model.x_embedder.proj.weight"));
    }

    @Test
    void configReadsTransformersFieldsAndRefusesUnsupportedOnesByName() throws Exception {
        ObjectMapper json = new ObjectMapper();
        T5Config c = T5Config.from(ConfigJson.of("t", json.readTree(
                "{\"d_model\":64,\"d_kv\":16,\"d_ff\":96,\"num_layers\":3,\"num_heads\":6,"
                        + "\"feed_forward_proj\":\"gated-gelu\",\"layer_norm_epsilon\":1e-5,\"vocab_size\":100}")));
        assertEquals(new T5Config(64, 16, 96, 3, 6, 32, 128, "gated-gelu", 1e-5, 100), c);
        assertEquals(96, c.innerDim());
        ConfigException e = assertThrows(ConfigException.class, () -> T5Config.from(ConfigJson.of("t",
                json.readTree("{\"feed_forward_proj\":\"gated-silu\"}"))));
        assertEquals("feed_forward_proj", e.field());
        e = assertThrows(ConfigException.class, () -> T5Config.from(ConfigJson.of("t",
                json.readTree("{\"relative_attention_num_buckets\":7}"))));
        assertEquals("relative_attention_num_buckets", e.field());
    }

    /** Deterministic small weights for every parameter of a config, as an in-memory state dict. */
    static final class Weights {

        private final Map<String, long[]> shapes = new LinkedHashMap<>();
        private final Map<String, float[]> values = new LinkedHashMap<>();
        private final Random random;

        Weights(T5Config c, long seed) {
            this.random = new Random(seed);
            T5EncoderModel model = new T5EncoderModel(c);
            model.namedParameters().forEach((k, p) -> put(k, p.shape().getShape()));
        }

        void put(String key, long[] shape) {
            float[] v = new float[Math.toIntExact(new Shape(shape).size())];
            boolean norm = key.endsWith("layer_norm.weight");
            for (int i = 0; i < v.length; i++) {
                v[i] = norm ? 0.8f + 0.4f * random.nextFloat() : (float) random.nextGaussian() * 0.7f;
            }
            shapes.put(key, shape);
            values.put(key, v);
        }

        float[] get(String key) {
            return values.get(key);
        }

        StateDict stateDict() {
            return StateDict.of(shapes.keySet(), shapes::get,
                    (key, manager, dtype) -> manager.create(values.get(key), new Shape(shapes.get(key))).toType(dtype,
                            false));
        }
    }
}
