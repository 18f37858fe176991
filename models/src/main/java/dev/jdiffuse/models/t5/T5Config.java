package dev.jdiffuse.models.t5;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.StateDict;

import java.nio.file.Path;

/**
 * transformers' {@code T5Config} ({@code text_encoder_3/config.json} of SD3, {@code text_encoder_2/} of FLUX); absent
 * fields take transformers' defaults. Only the encoder's fields are read.
 *
 * @param feedForwardProj "gated-gelu" (T5 v1.1: {@code wo(gelu_new(wi_0 x) * wi_1 x)}) or "relu" (original T5:
 *     {@code wo(relu(wi x))})
 */
public record T5Config(int dModel, int dKv, int dFf, int numLayers, int numHeads, int relativeAttentionNumBuckets,
        int relativeAttentionMaxDistance, String feedForwardProj, double layerNormEpsilon, int vocabSize) {

    public static final String GATED_GELU = "gated-gelu";
    public static final String RELU = "relu";

    public static T5Config read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static T5Config from(ConfigJson c) {
        String ff = c.getString("feed_forward_proj", RELU);
        if (!ff.equals(GATED_GELU) && !ff.equals(RELU)) {
            throw new ConfigException(c.source(), "feed_forward_proj",
                    "unsupported '" + ff + "' (expected " + GATED_GELU + " or " + RELU + ")");
        }
        T5Config cfg = new T5Config(c.getInt("d_model", 512), c.getInt("d_kv", 64), c.getInt("d_ff", 2048),
                c.getInt("num_layers", 6), c.getInt("num_heads", 8), c.getInt("relative_attention_num_buckets", 32),
                c.getInt("relative_attention_max_distance", 128), ff, c.getDouble("layer_norm_epsilon", 1e-6),
                c.getInt("vocab_size", 32128));
        positive(c, "d_model", cfg.dModel);
        positive(c, "d_kv", cfg.dKv);
        positive(c, "d_ff", cfg.dFf);
        positive(c, "num_layers", cfg.numLayers);
        positive(c, "num_heads", cfg.numHeads);
        positive(c, "vocab_size", cfg.vocabSize);
        // bidirectional buckets: half for each direction, half of those exact (see T5RelativePosition)
        if (cfg.relativeAttentionNumBuckets < 4 || cfg.relativeAttentionNumBuckets % 2 != 0) {
            throw new ConfigException(c.source(), "relative_attention_num_buckets",
                    "must be an even number >= 4, got " + cfg.relativeAttentionNumBuckets);
        }
        if (cfg.relativeAttentionMaxDistance <= cfg.relativeAttentionNumBuckets / 4) {
            throw new ConfigException(c.source(), "relative_attention_max_distance",
                    "must exceed relative_attention_num_buckets / 4, got " + cfg.relativeAttentionMaxDistance);
        }
        if (!(cfg.layerNormEpsilon > 0)) {
            throw new ConfigException(c.source(), "layer_norm_epsilon", "must be > 0");
        }
        return cfg;
    }

    /**
     * The config implied by a checkpoint in transformers' naming (a single file without config.json): widths, depth,
     * heads and buckets from the tensor shapes ({@code shared} [vocab, d_model], {@code q} [heads * d_kv, d_model],
     * {@code relative_attention_bias} [buckets, heads], {@code wi_0}/{@code wi} [d_ff, d_model]); the two values that
     * no shape records take T5's published ones: {@code relative_attention_max_distance} 128 and
     * {@code layer_norm_epsilon} 1e-6.
     */
    public static T5Config detect(StateDict weights) {
        if (!T5Keys.present(weights)) {
            throw new IllegalArgumentException("no T5 encoder weights (shared.weight, encoder.block.0...)");
        }
        long[] shared = weights.shape("shared.weight");
        long[] rab = weights.shape("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
        long[] q = weights.shape("encoder.block.0.layer.0.SelfAttention.q.weight");
        String ffKey = "encoder.block.0.layer.1.DenseReluDense.";
        boolean gated = weights.keys().contains(ffKey + "wi_0.weight");
        long[] wi = weights.shape(ffKey + (gated ? "wi_0.weight" : "wi.weight"));
        int layers = 0;
        while (weights.keys().contains("encoder.block." + layers + ".layer.0.layer_norm.weight")) {
            layers++;
        }
        int heads = Math.toIntExact(rab[1]);
        return new T5Config(Math.toIntExact(shared[1]), Math.toIntExact(q[0] / heads), Math.toIntExact(wi[0]), layers,
                heads, Math.toIntExact(rab[0]), 128, gated ? GATED_GELU : RELU, 1e-6, Math.toIntExact(shared[0]));
    }

    private static void positive(ConfigJson c, String field, int value) {
        if (value <= 0) {
            throw new ConfigException(c.source(), field, "must be > 0, got " + value);
        }
    }

    /** Width of the attention projections, {@code num_heads * d_kv} (equal to d_model in T5 v1.1 XXL, not always). */
    public int innerDim() {
        return numHeads * dKv;
    }

    public boolean gated() {
        return feedForwardProj.equals(GATED_GELU);
    }
}
