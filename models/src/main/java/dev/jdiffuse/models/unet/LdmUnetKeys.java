package dev.jdiffuse.models.unet;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The key table from original Stable Diffusion (CompVis LDM / A1111 single-file) UNet names to diffusers names, as
 * diffusers' {@code convert_ldm_unet_checkpoint} ({@code loaders/single_file_utils.py}) does:
 * <ul>
 *   <li>{@code time_embed.0/2} -> {@code time_embedding.linear_1/2}; {@code label_emb.0.0/2} ->
 *       {@code add_embedding.linear_1/2} (SDXL); {@code input_blocks.0.0} -> {@code conv_in};
 *       {@code out.0/2} -> {@code conv_norm_out}/{@code conv_out};</li>
 *   <li>{@code input_blocks.k}: level by level, one entry per layer ({@code .0} resnet, {@code .1} attention) and one
 *       for the downsampler ({@code .0.op} -> {@code downsamplers.0.conv}) after every level but the last;</li>
 *   <li>{@code middle_block.0/1/2} -> {@code mid_block.resnets.0}, {@code attentions.0}, {@code resnets.1};</li>
 *   <li>{@code output_blocks.k}: layers+1 entries per decoder level ({@code .0} resnet, {@code .1} attention unless
 *       it is the upsampler {@code .1.conv}, {@code .2.conv} upsampler after an attention);</li>
 *   <li>inside resnets: {@code in_layers.0/2} -> {@code norm1/conv1}, {@code emb_layers.1} -> {@code time_emb_proj},
 *       {@code out_layers.0/3} -> {@code norm2/conv2}, {@code skip_connection} -> {@code conv_shortcut}. Attention
 *       internals already have diffusers' names.</li>
 * </ul>
 * Keys outside {@code model.diffusion_model.} (VAE, text encoder, EMA copies) map to null (ignored); keys inside it
 * that the table does not know keep their name, so loading reports them as unexpected.
 */
public final class LdmUnetKeys {

    public static final String PREFIX = "model.diffusion_model.";

    private static final Map<String, String> TOP_LEVEL = Map.of("time_embed.0.", "time_embedding.linear_1.",
            "time_embed.2.", "time_embedding.linear_2.", "label_emb.0.0.", "add_embedding.linear_1.",
            "label_emb.0.2.", "add_embedding.linear_2.", "input_blocks.0.0.", "conv_in.", "out.0.",
            "conv_norm_out.", "out.2.", "conv_out.");

    private static final String[][] RESNET = {{"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."},
        {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"emb_layers.1.", "time_emb_proj."},
        {"skip_connection.", "conv_shortcut."}};

    private final Map<Integer, String> inputBlocks = new HashMap<>();
    private final Map<Integer, String> outputBlocks = new HashMap<>();

    private LdmUnetKeys(UNet2DConditionConfig config) {
        List<Integer> layers = config.layersPerBlock();
        int levels = layers.size();
        int k = 1;
        for (int level = 0; level < levels; level++) {
            for (int j = 0; j < layers.get(level); j++) {
                inputBlocks.put(k++, "down_blocks." + level + ".#" + j);
            }
            if (level < levels - 1) {
                inputBlocks.put(k++, "down_blocks." + level + ".downsamplers.0");
            }
        }
        k = 0;
        for (int level = 0; level < levels; level++) {
            for (int j = 0; j <= layers.get(levels - 1 - level); j++) {
                outputBlocks.put(k++, "up_blocks." + level + ".#" + j);
            }
        }
    }

    /** The renaming function for {@link dev.jdiffuse.models.nn.StateDict#renamed}, for a UNet of this config. */
    public static Function<String, String> table(UNet2DConditionConfig config) {
        LdmUnetKeys keys = new LdmUnetKeys(config);
        return key -> key.startsWith(PREFIX) ? keys.rename(key.substring(PREFIX.length())) : null;
    }

    private String rename(String key) {
        for (Map.Entry<String, String> e : TOP_LEVEL.entrySet()) {
            if (key.startsWith(e.getKey())) {
                return e.getValue() + key.substring(e.getKey().length());
            }
        }
        String[] p = key.split("\\.", 4);
        if (p.length == 4 && p[0].equals("middle_block") && isInt(p[1])) {
            return renameMiddle(Integer.parseInt(p[1]), p[2] + "." + p[3], key);
        }
        if (p.length == 4 && isInt(p[1]) && isInt(p[2])) {
            int index = Integer.parseInt(p[1]);
            int sub = Integer.parseInt(p[2]);
            if (p[0].equals("input_blocks") && inputBlocks.containsKey(index)) {
                return renameInput(inputBlocks.get(index), sub, p[3], key);
            }
            if (p[0].equals("output_blocks") && outputBlocks.containsKey(index)) {
                return renameOutput(outputBlocks.get(index), sub, p[3], key);
            }
        }
        return PREFIX + key;
    }

    private static String renameMiddle(int index, String rest, String key) {
        switch (index) {
            case 0:
                return "mid_block.resnets.0." + resnet(rest);
            case 1:
                return "mid_block.attentions.0." + rest;
            case 2:
                return "mid_block.resnets.1." + resnet(rest);
            default:
                return PREFIX + key;
        }
    }

    private static String renameInput(String target, int sub, String rest, String key) {
        if (target.endsWith("downsamplers.0")) {
            return sub == 0 && rest.startsWith("op.") ? target + ".conv." + rest.substring(3) : PREFIX + key;
        }
        if (sub == 0) {
            return target.replace("#", "resnets.") + "." + resnet(rest);
        }
        return sub == 1 ? target.replace("#", "attentions.") + "." + rest : PREFIX + key;
    }

    private static String renameOutput(String target, int sub, String rest, String key) {
        if (sub == 0) {
            return target.replace("#", "resnets.") + "." + resnet(rest);
        }
        String level = target.substring(0, target.indexOf(".#"));
        if ((sub == 1 || sub == 2) && rest.startsWith("conv.")) {
            return level + ".upsamplers.0." + rest;
        }
        return sub == 1 ? target.replace("#", "attentions.") + "." + rest : PREFIX + key;
    }

    private static String resnet(String rest) {
        for (String[] r : RESNET) {
            if (rest.startsWith(r[0])) {
                return r[1] + rest.substring(r[0].length());
            }
        }
        return rest;
    }

    private static boolean isInt(String s) {
        return !s.isEmpty() && s.chars().allMatch(Character::isDigit);
    }
}
