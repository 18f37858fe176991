package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorInfo;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes an SDXL refiner diffusers folder as one single file with the original (SGM) key names, the reverse of what
 * a loader maps, as diffusers' {@code convert_diffusers_to_original_sdxl.py} writes SDXL base (its
 * {@code unet_conversion_map*}, {@code vae_conversion_map*} and {@code convert_openclip_text_enc_state_dict}), with the
 * refiner's one encoder at {@code conditioner.embedders.0.model.}:
 * <ul>
 *   <li>UNet under {@code model.diffusion_model.}: {@code input_blocks.k.0/1} (resnet, attention) level by level, a
 *       {@code .0.op} downsampler closing every level but the last; {@code middle_block.0/1/2};
 *       {@code output_blocks.k.0/1}, the upsampler at {@code .1.conv} (no attention) or {@code .2.conv};</li>
 *   <li>VAE under {@code first_stage_model.}: decoder levels numbered in reverse, {@code nin_shortcut},
 *       {@code mid.attn_1.q/k/v/proj_out} as 1x1 convolutions [C, C, 1, 1];</li>
 *   <li>text encoder as an OpenCLIP tower: fused {@code attn.in_proj_weight} (q, k, v rows), {@code text_projection}
 *       [D, P] (transposed), {@code logit_scale}.</li>
 * </ul>
 * Values are the folder's bytes (F16 stays F16). The test checks the names against the loader's own tables.
 */
final class RefinerSingleFileWriter {

    static final String UNET = "model.diffusion_model.";
    static final String VAE = "first_stage_model.";
    static final String TEXT = "conditioner.embedders.0.model.";

    private static final String[][] RESNET = {{"norm1.", "in_layers.0."}, {"conv1.", "in_layers.2."},
        {"norm2.", "out_layers.0."}, {"conv2.", "out_layers.3."}, {"time_emb_proj.", "emb_layers.1."},
        {"conv_shortcut.", "skip_connection."}};
    private static final Map<String, String> UNET_TOP = Map.of("time_embedding.linear_1.", "time_embed.0.",
            "time_embedding.linear_2.", "time_embed.2.", "add_embedding.linear_1.", "label_emb.0.0.",
            "add_embedding.linear_2.", "label_emb.0.2.", "conv_in.", "input_blocks.0.0.", "conv_norm_out.", "out.0.",
            "conv_out.", "out.2.");
    private static final Pattern LAYER = Pattern.compile("text_model\\.encoder\\.layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> LAYER_PARTS = Map.of("layer_norm1.", "ln_1.", "layer_norm2.", "ln_2.",
            "mlp.fc1.", "mlp.c_fc.", "mlp.fc2.", "mlp.c_proj.", "self_attn.out_proj.", "attn.out_proj.");

    private RefinerSingleFileWriter() {
    }

    /** The folder's unet, vae and text_encoder_2 as one file at {@code out}. */
    static void write(Path folder, Path out) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        UNet2DConditionConfig config = UNet2DConditionConfig.read(folder.resolve("unet/config.json"));
        Map<String, String> unetPrefixes = unetPrefixes(config);
        try (SafetensorsFile unet = SafetensorsFile.open(folder.resolve("unet/diffusion_pytorch_model.safetensors"));
                SafetensorsFile vae = SafetensorsFile.open(folder.resolve("vae/diffusion_pytorch_model.safetensors"));
                SafetensorsFile te = SafetensorsFile.open(folder.resolve("text_encoder_2/model.safetensors"))) {
            for (String k : unet.names()) {
                t.put(UNET + unetName(k, unetPrefixes), copy(unet, k));
            }
            int levels = config.levels();
            for (String k : vae.names()) {
                String name = vaeName(k, levels);
                TensorData d = copy(vae, k);
                if (name.matches("(encoder|decoder)\\.mid\\.attn_1\\.(q|k|v|proj_out)\\.weight")) {
                    long[] s = d.shape();
                    d = TensorData.of(d.dtype(), new long[] {s[0], s[1], 1, 1}, bytesOf(vae, k));
                }
                t.put(VAE + name, d);
            }
            openClip(te, t);
        }
        SafetensorsWriter.write(out, t);
    }

    /** diffusers block prefix -> LDM block prefix, for every block of a UNet of {@code c}. */
    static Map<String, String> unetPrefixes(UNet2DConditionConfig c) {
        Map<String, String> m = new LinkedHashMap<>();
        int levels = c.levels();
        List<Integer> layers = c.layersPerBlock();
        int k = 1;
        for (int i = 0; i < levels; i++) {
            for (int j = 0; j < layers.get(i); j++, k++) {
                m.put("down_blocks." + i + ".resnets." + j + ".", "input_blocks." + k + ".0.");
                m.put("down_blocks." + i + ".attentions." + j + ".", "input_blocks." + k + ".1.");
            }
            if (i < levels - 1) {
                m.put("down_blocks." + i + ".downsamplers.0.conv.", "input_blocks." + k++ + ".0.op.");
            }
        }
        k = 0;
        for (int i = 0; i < levels; i++) {
            int n = layers.get(levels - 1 - i) + 1;
            boolean attention = c.upBlockTypes().get(i).startsWith("CrossAttn");
            for (int j = 0; j < n; j++, k++) {
                m.put("up_blocks." + i + ".resnets." + j + ".", "output_blocks." + k + ".0.");
                m.put("up_blocks." + i + ".attentions." + j + ".", "output_blocks." + k + ".1.");
                if (j == n - 1 && i < levels - 1) {
                    m.put("up_blocks." + i + ".upsamplers.0.conv.", "output_blocks." + k + "." + (attention ? 2 : 1)
                            + ".conv.");
                }
            }
        }
        m.put("mid_block.resnets.0.", "middle_block.0.");
        m.put("mid_block.attentions.0.", "middle_block.1.");
        m.put("mid_block.resnets.1.", "middle_block.2.");
        m.putAll(UNET_TOP);
        return m;
    }

    static String unetName(String key, Map<String, String> prefixes) {
        for (Map.Entry<String, String> e : prefixes.entrySet()) {
            if (key.startsWith(e.getKey())) {
                String rest = key.substring(e.getKey().length());
                return e.getValue() + (e.getKey().contains(".resnets.") ? rename(rest, RESNET) : rest);
            }
        }
        throw new IllegalArgumentException("no LDM name for UNet key " + key);
    }

    static String vaeName(String key, int levels) {
        Matcher m;
        if ((m = Pattern.compile("encoder\\.down_blocks\\.(\\d+)\\.resnets\\.(\\d+)\\.(.+)").matcher(key)).matches()) {
            return "encoder.down." + m.group(1) + ".block." + m.group(2) + "." + shortcut(m.group(3));
        }
        if ((m = Pattern.compile("encoder\\.down_blocks\\.(\\d+)\\.downsamplers\\.0\\.(.+)").matcher(key)).matches()) {
            return "encoder.down." + m.group(1) + ".downsample." + m.group(2);
        }
        if ((m = Pattern.compile("decoder\\.up_blocks\\.(\\d+)\\.resnets\\.(\\d+)\\.(.+)").matcher(key)).matches()) {
            return "decoder.up." + (levels - 1 - Integer.parseInt(m.group(1))) + ".block." + m.group(2) + "."
                    + shortcut(m.group(3));
        }
        if ((m = Pattern.compile("decoder\\.up_blocks\\.(\\d+)\\.upsamplers\\.0\\.(.+)").matcher(key)).matches()) {
            return "decoder.up." + (levels - 1 - Integer.parseInt(m.group(1))) + ".upsample." + m.group(2);
        }
        if ((m = Pattern.compile("(encoder|decoder)\\.mid_block\\.resnets\\.(\\d+)\\.(.+)").matcher(key)).matches()) {
            return m.group(1) + ".mid.block_" + (Integer.parseInt(m.group(2)) + 1) + "." + shortcut(m.group(3));
        }
        if ((m = Pattern.compile("(encoder|decoder)\\.mid_block\\.attentions\\.0\\.(group_norm|to_q|to_k|to_v|to_out\\.0)"
                + "\\.(.+)").matcher(key)).matches()) {
            String part = switch (m.group(2)) {
                case "group_norm" -> "norm";
                case "to_q" -> "q";
                case "to_k" -> "k";
                case "to_v" -> "v";
                default -> "proj_out";
            };
            return m.group(1) + ".mid.attn_1." + part + "." + m.group(3);
        }
        if ((m = Pattern.compile("(encoder|decoder)\\.conv_norm_out\\.(.+)").matcher(key)).matches()) {
            return m.group(1) + ".norm_out." + m.group(2);
        }
        return key;
    }

    /** transformers' CLIPTextModelWithProjection -> the OpenCLIP tower under {@link #TEXT}. */
    private static void openClip(SafetensorsFile te, Map<String, TensorData> t) {
        Map<String, String> top = Map.of("text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "text_model.embeddings.position_embedding.weight", "positional_embedding",
                "text_model.final_layer_norm.weight", "ln_final.weight", "text_model.final_layer_norm.bias",
                "ln_final.bias");
        for (String k : te.names()) {
            Matcher m = LAYER.matcher(k);
            if (top.containsKey(k)) {
                t.put(TEXT + top.get(k), copy(te, k));
            } else if (k.equals("text_projection.weight")) {
                t.put(TEXT + "text_projection", transposed(te, k));
            } else if (m.matches()) {
                String block = TEXT + "transformer.resblocks." + m.group(1) + ".";
                String rest = m.group(2);
                if (rest.startsWith("self_attn.q_proj.")) {
                    String kind = rest.substring("self_attn.q_proj.".length());
                    t.put(block + "attn.in_proj_" + kind, fused(te, "text_model.encoder.layers." + m.group(1)
                            + ".self_attn.", kind));
                } else if (!rest.startsWith("self_attn.k_proj.") && !rest.startsWith("self_attn.v_proj.")) {
                    t.put(block + rename(rest, LAYER_PARTS), copy(te, k));
                }
            } else if (!k.endsWith("position_ids")) {
                throw new IllegalArgumentException("no OpenCLIP name for text encoder key " + k);
            }
        }
        t.put(TEXT + "logit_scale", TensorData.ofFloats(te.info("text_projection.weight").dtype(), new long[] {},
                new float[] {4.6052f}));
    }

    private static String rename(String rest, String[][] table) {
        for (String[] r : table) {
            if (rest.startsWith(r[0])) {
                return r[1] + rest.substring(r[0].length());
            }
        }
        return rest;
    }

    private static String rename(String rest, Map<String, String> table) {
        for (Map.Entry<String, String> e : table.entrySet()) {
            if (rest.startsWith(e.getKey())) {
                return e.getValue() + rest.substring(e.getKey().length());
            }
        }
        throw new IllegalArgumentException("no OpenCLIP name for " + rest);
    }

    private static String shortcut(String rest) {
        return rest.startsWith("conv_shortcut.") ? "nin_shortcut." + rest.substring("conv_shortcut.".length()) : rest;
    }

    /** q, k, v of one layer concatenated by rows. */
    private static TensorData fused(SafetensorsFile in, String prefix, String kind) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        TensorInfo q = in.info(prefix + "q_proj." + kind);
        for (String p : new String[] {"q_proj.", "k_proj.", "v_proj."}) {
            bytes.writeBytes(bytesOf(in, prefix + p + kind));
        }
        long[] shape = q.shape().clone();
        shape[0] *= 3;
        return TensorData.of(q.dtype(), shape, bytes.toByteArray());
    }

    /** A 2-D tensor [R, C] as [C, R], element bytes moved as they are. */
    private static TensorData transposed(SafetensorsFile in, String key) {
        TensorInfo info = in.info(key);
        int rows = (int) info.shape()[0];
        int cols = (int) info.shape()[1];
        byte[] src = bytesOf(in, key);
        int size = src.length / (rows * cols);
        byte[] dst = new byte[src.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                System.arraycopy(src, (r * cols + c) * size, dst, (c * rows + r) * size, size);
            }
        }
        return TensorData.of(info.dtype(), new long[] {cols, rows}, dst);
    }

    private static TensorData copy(SafetensorsFile in, String key) {
        TensorInfo info = in.info(key);
        return TensorData.of(info.dtype(), info.shape(), bytesOf(in, key));
    }

    private static byte[] bytesOf(SafetensorsFile in, String key) {
        ByteBuffer b = in.buffer(key).duplicate();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
