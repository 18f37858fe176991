package dev.jdiffuse.models.unet;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

import java.util.List;
import java.util.Set;

/**
 * Reads and validation shared by the UNet and ControlNet configs (both come from diffusers' UNet constructor
 * arguments): the fields whose unsupported values must fail with the field's name instead of building a different
 * network silently.
 */
final class UNetConfigFields {

    static final String CROSS_ATTN_DOWN = "CrossAttnDownBlock2D";
    static final String DOWN = "DownBlock2D";
    static final String CROSS_ATTN_UP = "CrossAttnUpBlock2D";
    static final String UP = "UpBlock2D";
    static final String MID_CROSS_ATTN = "UNetMidBlock2DCrossAttn";
    static final String MID_PLAIN = "UNetMidBlock2D";
    static final String TEXT_TIME = "text_time";

    private UNetConfigFields() {
    }

    /** Fields that must be absent, null, false or their only supported value. */
    static void rejectUnsupported(ConfigJson c) {
        requireAllFalse(c, "only_cross_attention");
        c.requireAbsentOr("dual_cross_attention", false);
        c.requireAbsentOr("mid_block_only_cross_attention", false);
        requireNull(c, "class_embed_type");
        requireNull(c, "num_class_embeds");
        c.requireAbsentOr("class_embeddings_concat", false);
        c.requireAbsentOr("time_embedding_type", "positional");
        c.requireAbsentOr("resnet_time_scale_shift", "default");
        c.requireAbsentOr("resnet_skip_time_act", false);
        c.requireAbsentOr("resnet_out_scale_factor", 1.0);
        requireNull(c, "timestep_post_act");
        requireNull(c, "time_cond_proj_dim");
        requireNull(c, "time_embedding_act_fn");
        requireNull(c, "encoder_hid_dim");
        requireNull(c, "encoder_hid_dim_type");
        requireNull(c, "cross_attention_norm");
        requireNull(c, "reverse_transformer_layers_per_block");
        c.requireAbsentOr("attention_type", "default");
        c.requireAbsentOr("act_fn", "silu");
        JsonNode groups = c.node().get("norm_num_groups");
        if (groups != null && groups.isNull()) {
            throw new ConfigException(c.source(), "norm_num_groups", "null (no group norm) is not supported");
        }
    }

    static void requireNull(ConfigJson c, String field) {
        if (c.has(field)) {
            throw new ConfigException(c.source(), field, "unsupported value " + c.node().get(field)
                    + " (supported: null)");
        }
    }

    private static void requireAllFalse(ConfigJson c, String field) {
        JsonNode n = c.node().get(field);
        if (n == null || n.isNull()) {
            return;
        }
        boolean anyTrue = n.isBoolean() ? n.booleanValue() : false;
        if (n.isArray()) {
            for (JsonNode e : n) {
                anyTrue |= !e.isBoolean() || e.booleanValue();
            }
        } else if (!n.isBoolean()) {
            anyTrue = true;
        }
        if (anyTrue) {
            throw new ConfigException(c.source(), field, "unsupported value " + n + " (supported: false)");
        }
    }

    /** An int-or-list field expanded to one value per level; a list of the wrong length is an error. */
    static List<Integer> perLevel(ConfigJson c, String field, int dflt, int levels) {
        List<Integer> v = c.getIntList(field, java.util.Collections.nCopies(levels, dflt), levels);
        if (v.size() != levels) {
            throw new ConfigException(c.source(), field, "has " + v.size() + " entries, expected one per block ("
                    + levels + ")");
        }
        return v;
    }

    /** Block type names, each checked against {@code allowed}. */
    static List<String> blockTypes(ConfigJson c, String field, List<String> dflt, Set<String> allowed) {
        List<String> v = c.getStringList(field, dflt);
        for (String t : v) {
            if (!allowed.contains(t)) {
                throw new ConfigException(c.source(), field, "unsupported block type '" + t + "' (supported: "
                        + allowed + ")");
            }
        }
        return v;
    }

    /** {@code mid_block_type}: diffusers' default when absent, {@code null} (no mid block) when explicitly null. */
    static String midBlockType(ConfigJson c, boolean nullAllowed) {
        JsonNode n = c.node().get("mid_block_type");
        if (n != null && n.isNull()) {
            if (!nullAllowed) {
                throw new ConfigException(c.source(), "mid_block_type", "null is not supported here");
            }
            return null;
        }
        return c.getEnum("mid_block_type", MID_CROSS_ATTN, Set.of(MID_CROSS_ATTN, MID_PLAIN));
    }

    /** {@code num_attention_heads} if set, else {@code attention_head_dim} (which SD configs use for the head count). */
    static List<Integer> heads(ConfigJson c, int levels) {
        if (c.has("num_attention_heads")) {
            return perLevel(c, "num_attention_heads", 0, levels);
        }
        return perLevel(c, "attention_head_dim", 8, levels);
    }

    static String additionEmbedType(ConfigJson c) {
        return c.getEnum("addition_embed_type", null, Set.of(TEXT_TIME));
    }

    static int requiredFor(ConfigJson c, String field, String because) {
        if (!c.has(field)) {
            throw new ConfigException(c.source(), field, "required when " + because);
        }
        return c.getInt(field, 0);
    }
}
