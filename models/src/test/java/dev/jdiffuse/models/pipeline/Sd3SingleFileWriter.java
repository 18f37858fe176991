package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.testkit.GgufWriter;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes an SD 3 / 3.5 diffusers folder back as the original single file Stability ships, the inverse of what
 * diffusers' {@code convert_sd3_transformer_checkpoint_to_diffusers}, {@code convert_ldm_vae_checkpoint},
 * {@code convert_ldm_clip_checkpoint} and {@code convert_sd3_t5_checkpoint_to_diffusers} read, written here
 * independently of the loader's tables:
 * <ul>
 *   <li>MMDiT under {@code model.diffusion_model.}: {@code to_q, to_k, to_v} fused by rows into {@code x_block.attn.qkv}
 *       (context: {@code add_*_proj} into {@code context_block.attn.qkv}; SD 3.5's second attention into
 *       {@code x_block.attn2.qkv}); norms and MLPs renamed; {@code norm_out.linear} and the last block's
 *       {@code norm1_context.linear} with their (scale, shift) row halves put back in SD3's (shift, scale) order;</li>
 *   <li>VAE under {@code first_stage_model.} with LDM names (decoder levels numbered in reverse, mid-block attention
 *       projections as 1x1 convolutions [C, C, 1, 1], as released files store them);</li>
 *   <li>CLIP-L and CLIP-G under {@code text_encoders.clip_l/clip_g.transformer.}, T5 under
 *       {@code text_encoders.t5xxl.transformer.}, in transformers' naming.</li>
 * </ul>
 * Values keep their stored bytes and dtype (the layout's BF16).
 */
final class Sd3SingleFileWriter {

    private static final String MMDIT = "model.diffusion_model.";
    private static final String VAE = "first_stage_model.";
    private static final Pattern BLOCK = Pattern.compile("transformer_blocks\\.(\\d+)\\.(.+)");
    private static final String[][] TOP = {{"pos_embed.proj.", "x_embedder.proj."},
        {"time_text_embed.timestep_embedder.linear_1.", "t_embedder.mlp.0."},
        {"time_text_embed.timestep_embedder.linear_2.", "t_embedder.mlp.2."},
        {"time_text_embed.text_embedder.linear_1.", "y_embedder.mlp.0."},
        {"time_text_embed.text_embedder.linear_2.", "y_embedder.mlp.2."},
        {"context_embedder.", "context_embedder."}, {"proj_out.", "final_layer.linear."}};
    /** Block-internal renames that need no fusing (diffusers name, original name). */
    private static final String[][] IN_BLOCK = {{"attn.to_out.0.", "x_block.attn.proj."},
        {"attn.to_add_out.", "context_block.attn.proj."}, {"attn.norm_q.", "x_block.attn.ln_q."},
        {"attn.norm_k.", "x_block.attn.ln_k."}, {"attn.norm_added_q.", "context_block.attn.ln_q."},
        {"attn.norm_added_k.", "context_block.attn.ln_k."}, {"attn2.to_out.0.", "x_block.attn2.proj."},
        {"attn2.norm_q.", "x_block.attn2.ln_q."}, {"attn2.norm_k.", "x_block.attn2.ln_k."},
        {"norm1.linear.", "x_block.adaLN_modulation.1."}, {"ff.net.0.proj.", "x_block.mlp.fc1."},
        {"ff.net.2.", "x_block.mlp.fc2."}, {"ff_context.net.0.proj.", "context_block.mlp.fc1."},
        {"ff_context.net.2.", "context_block.mlp.fc2."}};
    /** Fused projections: (diffusers q name, k name, v name, original name). */
    private static final String[][] FUSED = {{"attn.to_q.", "attn.to_k.", "attn.to_v.", "x_block.attn.qkv."},
        {"attn.add_q_proj.", "attn.add_k_proj.", "attn.add_v_proj.", "context_block.attn.qkv."},
        {"attn2.to_q.", "attn2.to_k.", "attn2.to_v.", "x_block.attn2.qkv."}};

    /** What the file holds besides the MMDiT and VAE, to test files that lack some of it. */
    record Parts(boolean clips, boolean clipLProjection, boolean t5) {
        static final Parts ALL = new Parts(true, true, true);
    }

    private Sd3SingleFileWriter() {
    }

    /** Writes {@code layout/model} ({@code transformer/}, {@code vae/}, {@code text_encoder/}, {@code text_encoder_2/}, {@code text_encoder_3/}) as {@code out}. */
    static void write(Path model, Path out, Parts parts) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve("transformer/diffusion_pytorch_model.safetensors"))) {
            mmdit(f, t);
        }
        vae(model, VAE, t);
        if (parts.clips()) {
            text(model.resolve("text_encoder/model.safetensors"), "text_encoders.clip_l.transformer.",
                    parts.clipLProjection(), t);
            text(model.resolve("text_encoder_2/model.safetensors"), "text_encoders.clip_g.transformer.", true, t);
        }
        if (parts.t5()) {
            text(model.resolve("text_encoder_3/model.safetensors"), "text_encoders.t5xxl.transformer.", true, t);
        }
        SafetensorsWriter.write(out, t);
    }

    /**
     * {@code model/transformer} as an MMDiT-only GGUF {@code out} under the original names without
     * {@code model.diffusion_model.} (as city96's {@code sd3.5_large-*.gguf}), stored as {@code storage} says.
     */
    static void ggufMmdit(Path model, Path out, FluxSingleFileWriter.GgufStorage storage) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve("transformer/diffusion_pytorch_model.safetensors"))) {
            mmdit(f, t);
        }
        Path staged = out.resolveSibling(out.getFileName() + ".staged.safetensors");
        SafetensorsWriter.write(staged, t);
        GgufWriter w = new GgufWriter().metadata("general.architecture", "sd3");
        try (SafetensorsFile f = SafetensorsFile.open(staged)) {
            for (String k : f.names()) {
                FluxSingleFileWriter.addTensor(w, k.substring(MMDIT.length()), f.info(k).shape(), f.toFloatArray(k),
                        storage);
            }
        }
        w.write(out);
        try {
            Files.delete(staged);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code model/vae} in LDM names under {@code prefix} (mid-block attention as 1x1 convolutions, as LDM keeps it). */
    static void vae(Path model, String prefix, Map<String, TensorData> t) {
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve("vae/diffusion_pytorch_model.safetensors"))) {
            int upLevels = (int) f.names().stream().filter(k -> k.matches("decoder\\.up_blocks\\.\\d+\\.resnets\\.0"
                    + "\\.conv1\\.weight")).count();
            for (String k : f.names()) {
                boolean attention = k.matches(".*mid_block\\.attentions\\.0\\.(to_q|to_k|to_v|to_out\\.0)\\.weight");
                TensorData v = copy(f, k);
                t.put(prefix + vaeName(k, upLevels), attention ? TensorData.of(v.dtype(), new long[] {v.shape()[0],
                    v.shape()[1], 1, 1}, bytes(v.data())) : v);
            }
        }
    }

    private static void mmdit(SafetensorsFile f, Map<String, TensorData> t) {
        int last = (int) f.names().stream().filter(k -> k.matches("transformer_blocks\\.\\d+\\.norm1\\.linear"
                + "\\.weight")).count() - 1;
        for (String k : f.names()) {
            if (k.equals("pos_embed.pos_embed")) {
                t.put(MMDIT + "pos_embed", copy(f, k));
            } else if (k.startsWith("norm_out.linear.")) {
                t.put(MMDIT + "final_layer.adaLN_modulation.1." + last(k), swapHalves(copy(f, k)));
            } else if (!mmditTop(f, k, t)) {
                Matcher m = BLOCK.matcher(k);
                if (!m.matches()) {
                    throw new IllegalStateException("no original name for " + k);
                }
                mmditBlock(f, k, Integer.parseInt(m.group(1)), m.group(2), Integer.parseInt(m.group(1)) == last, t);
            }
        }
    }

    private static boolean mmditTop(SafetensorsFile f, String k, Map<String, TensorData> t) {
        for (String[] r : TOP) {
            if (k.startsWith(r[0])) {
                t.put(MMDIT + r[1] + k.substring(r[0].length()), copy(f, k));
                return true;
            }
        }
        return false;
    }

    private static void mmditBlock(SafetensorsFile f, String k, int i, String rest, boolean last,
            Map<String, TensorData> t) {
        String to = MMDIT + "joint_blocks." + i + ".";
        if (rest.startsWith("norm1_context.linear.")) {
            TensorData v = copy(f, k);
            t.put(to + "context_block.adaLN_modulation.1." + last(k), last ? swapHalves(v) : v);
            return;
        }
        for (String[] r : IN_BLOCK) {
            if (rest.startsWith(r[0])) {
                t.put(to + r[1] + rest.substring(r[0].length()), copy(f, k));
                return;
            }
        }
        for (String[] r : FUSED) {
            for (int part = 0; part < 3; part++) {
                if (rest.startsWith(r[part])) {
                    if (part == 0) {
                        String from = "transformer_blocks." + i + ".";
                        String s = rest.substring(r[0].length());
                        t.put(to + r[3] + s, rows(copy(f, from + r[0] + s), copy(f, from + r[1] + s),
                                copy(f, from + r[2] + s)));
                    }
                    return;
                }
            }
        }
        throw new IllegalStateException("no original name for " + k);
    }

    /** The LDM name of a diffusers VAE key ({@code upLevels} decoder levels, numbered in reverse by LDM). */
    static String vaeName(String k, int upLevels) {
        String[] parts = k.split("\\.");
        String half = parts[0];
        if (parts[1].equals("down_blocks")) {
            return parts[3].equals("downsamplers") ? half + ".down." + parts[2] + ".downsample." + join(parts, 5)
                    : half + ".down." + parts[2] + ".block." + parts[4] + "." + shortcut(join(parts, 5));
        }
        if (parts[1].equals("up_blocks")) {
            int level = upLevels - 1 - Integer.parseInt(parts[2]);
            return parts[3].equals("upsamplers") ? half + ".up." + level + ".upsample." + join(parts, 5)
                    : half + ".up." + level + ".block." + parts[4] + "." + shortcut(join(parts, 5));
        }
        if (parts[1].equals("mid_block")) {
            if (parts[2].equals("resnets")) {
                return half + ".mid.block_" + (Integer.parseInt(parts[3]) + 1) + "." + join(parts, 4);
            }
            String inner = join(parts, 4);
            inner = inner.replace("group_norm.", "norm.").replace("to_q.", "q.").replace("to_k.", "k.")
                    .replace("to_v.", "v.").replace("to_out.0.", "proj_out.");
            return half + ".mid.attn_1." + inner;
        }
        if (parts[1].equals("conv_norm_out")) {
            return half + ".norm_out." + join(parts, 2);
        }
        return k;
    }

    private static String shortcut(String s) {
        return s.startsWith("conv_shortcut.") ? "nin_shortcut." + s.substring("conv_shortcut.".length()) : s;
    }

    private static String join(String[] parts, int from) {
        return String.join(".", java.util.Arrays.copyOfRange(parts, from, parts.length));
    }

    static void text(Path file, String prefix, boolean projection, Map<String, TensorData> t) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String k : f.names()) {
                if (projection || !k.equals("text_projection.weight")) {
                    t.put(prefix + k, copy(f, k));
                }
            }
        }
    }

    private static String last(String k) {
        return k.substring(k.lastIndexOf('.') + 1);
    }

    /** Rows of q, k, v one after the other (row-major bytes). */
    private static TensorData rows(TensorData q, TensorData k, TensorData v) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (TensorData d : new TensorData[] {q, k, v}) {
            out.writeBytes(bytes(d.data()));
        }
        long[] shape = q.shape().clone();
        shape[0] *= 3;
        return TensorData.of(q.dtype(), shape, out.toByteArray());
    }

    /** [a; b] -> [b; a] by rows: diffusers' (scale, shift) back to SD3's (shift, scale). */
    private static TensorData swapHalves(TensorData d) {
        byte[] b = bytes(d.data());
        byte[] out = new byte[b.length];
        int half = b.length / 2;
        System.arraycopy(b, half, out, 0, half);
        System.arraycopy(b, 0, out, half, half);
        return TensorData.of(d.dtype(), d.shape(), out);
    }

    private static TensorData copy(SafetensorsFile in, String key) {
        TensorInfo info = in.info(key);
        return TensorData.of(info.dtype(), info.shape(), bytes(in.buffer(key)));
    }

    private static byte[] bytes(ByteBuffer buffer) {
        ByteBuffer b = buffer.duplicate();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
