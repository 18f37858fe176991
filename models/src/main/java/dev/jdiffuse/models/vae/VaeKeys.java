package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.StateDict;

import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checkpoint key tables of the KL-VAE, all ending in diffusers' {@code AutoencoderKL} names:
 * <ul>
 * <li>original LDM / CompVis single-file names under {@code first_stage_model.} (or {@code vae.}), as diffusers'
 * {@code convert_ldm_vae_checkpoint} (loaders/single_file_utils.py) maps them;</li>
 * <li>diffusers' deprecated attention names {@code query/key/value/proj_attn}, as
 * {@code ModelMixin._convert_deprecated_attention_blocks} maps them;</li>
 * <li>the mid-block attention's projections stored as 1x1 convolutions [C, C, 1, 1] (LDM), which become the linear
 * weights [C, C] of {@code to_q/to_k/to_v/to_out.0} ({@code update_vae_attentions_ldm_to_diffusers}).</li>
 * </ul>
 */
public final class VaeKeys {

    /** The prefixes of the VAE in single-file checkpoints, in diffusers' {@code LDM_VAE_KEYS} order. */
    static final String[] LDM_PREFIXES = {"first_stage_model.", "vae."};

    private static final Pattern DOWN_RESNET = Pattern.compile("encoder\\.down\\.(\\d+)\\.block\\.(\\d+)\\.(.+)");
    private static final Pattern DOWNSAMPLE = Pattern.compile("encoder\\.down\\.(\\d+)\\.downsample\\.(.+)");
    private static final Pattern UP_RESNET = Pattern.compile("decoder\\.up\\.(\\d+)\\.block\\.(\\d+)\\.(.+)");
    private static final Pattern UPSAMPLE = Pattern.compile("decoder\\.up\\.(\\d+)\\.upsample\\.(.+)");
    private static final Pattern MID_RESNET = Pattern.compile("(encoder|decoder)\\.mid\\.block_(\\d+)\\.(.+)");
    private static final Pattern MID_ATTN = Pattern.compile("(encoder|decoder)\\.mid\\.attn_1\\.(\\w+)\\.(\\w+)");
    private static final Pattern NORM_OUT = Pattern.compile("(encoder|decoder)\\.norm_out\\.(.+)");
    private static final Pattern DEPRECATED_ATTN =
            Pattern.compile("(.*\\.attentions\\.\\d+)\\.(query|key|value|proj_attn)\\.(weight|bias)");
    private static final Pattern ATTN_PROJECTION =
            Pattern.compile(".*mid_block\\.attentions\\.\\d+\\.(to_q|to_k|to_v|to_out\\.0)\\.weight");

    private VaeKeys() {
    }

    /**
     * The VAE of a single-file (LDM-named) checkpoint as a state dict in diffusers' names; keys outside the VAE are
     * left out, the training-only {@code loss.*} entries are dropped, and any other unknown VAE key is kept so that
     * loading reports it.
     *
     * @param upLevels the number of decoder levels ({@code len(up_block_types)}); LDM numbers them in reverse
     */
    public static StateDict fromLdm(StateDict checkpoint, int upLevels) {
        String prefix = LDM_PREFIXES[0];
        for (String p : LDM_PREFIXES) {
            if (checkpoint.keys().stream().anyMatch(k -> k.startsWith(p))) {
                prefix = p;
            }
        }
        String vaePrefix = prefix;
        Function<String, String> table = k -> k.startsWith(vaePrefix) ? ldmToDiffusers(
                k.substring(vaePrefix.length()), upLevels) : null;
        return attentionProjectionsAsLinear(checkpoint.renamed(table));
    }

    /**
     * A diffusers-layout VAE state dict with deprecated attention names renamed and 1x1-conv projections viewed as
     * linear weights; other keys pass through unchanged.
     */
    public static StateDict normalizeDiffusers(StateDict weights) {
        return attentionProjectionsAsLinear(weights.renamed(VaeKeys::renameDeprecatedAttention));
    }

    static String ldmToDiffusers(String k, int upLevels) {
        if (k.startsWith("loss.")) {
            return null;
        }
        Matcher m;
        if ((m = DOWN_RESNET.matcher(k)).matches()) {
            return "encoder.down_blocks." + m.group(1) + ".resnets." + m.group(2) + "." + shortcut(m.group(3));
        }
        if ((m = DOWNSAMPLE.matcher(k)).matches()) {
            return "encoder.down_blocks." + m.group(1) + ".downsamplers.0." + m.group(2);
        }
        if ((m = UP_RESNET.matcher(k)).matches()) {
            int level = upLevels - 1 - Integer.parseInt(m.group(1));
            return "decoder.up_blocks." + level + ".resnets." + m.group(2) + "." + shortcut(m.group(3));
        }
        if ((m = UPSAMPLE.matcher(k)).matches()) {
            int level = upLevels - 1 - Integer.parseInt(m.group(1));
            return "decoder.up_blocks." + level + ".upsamplers.0." + m.group(2);
        }
        if ((m = MID_RESNET.matcher(k)).matches()) {
            int index = Integer.parseInt(m.group(2)) - 1;
            return m.group(1) + ".mid_block.resnets." + index + "." + shortcut(m.group(3));
        }
        if ((m = MID_ATTN.matcher(k)).matches()) {
            String part = switch (m.group(2)) {
                case "norm" -> "group_norm";
                case "q" -> "to_q";
                case "k" -> "to_k";
                case "v" -> "to_v";
                case "proj_out" -> "to_out.0";
                default -> m.group(2);
            };
            return m.group(1) + ".mid_block.attentions.0." + part + "." + m.group(3);
        }
        if ((m = NORM_OUT.matcher(k)).matches()) {
            return m.group(1) + ".conv_norm_out." + m.group(2);
        }
        return k;
    }

    private static String shortcut(String rest) {
        return rest.startsWith("nin_shortcut.") ? "conv_shortcut." + rest.substring("nin_shortcut.".length()) : rest;
    }

    static String renameDeprecatedAttention(String k) {
        Matcher m = DEPRECATED_ATTN.matcher(k);
        if (!m.matches()) {
            return k;
        }
        String part = switch (m.group(2)) {
            case "query" -> "to_q";
            case "key" -> "to_k";
            case "value" -> "to_v";
            default -> "to_out.0";
        };
        return m.group(1) + "." + part + "." + m.group(3);
    }

    /** Views the mid-attention projection weights stored as [C, C, 1, 1] (or [C, C, 1]) as [C, C]. */
    static StateDict attentionProjectionsAsLinear(StateDict base) {
        return StateDict.of(base.keys(), key -> {
            long[] s = base.shape(key);
            return squeezes(key, s) ? new long[] {s[0], s[1]} : s;
        }, (key, manager, dtype) -> {
            NDArray v = base.load(key, manager, dtype);
            long[] s = v.getShape().getShape();
            if (!squeezes(key, s)) {
                return v;
            }
            NDArray linear = v.reshape(s[0], s[1]);
            v.close();
            return linear;
        });
    }

    private static boolean squeezes(String key, long[] shape) {
        if (shape.length < 3 || !ATTN_PROJECTION.matcher(key).matches()) {
            return false;
        }
        for (int i = 2; i < shape.length; i++) {
            if (shape[i] != 1) {
                return false;
            }
        }
        return true;
    }
}
