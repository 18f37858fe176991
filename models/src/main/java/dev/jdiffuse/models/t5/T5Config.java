package dev.jdiffuse.models.t5;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

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
