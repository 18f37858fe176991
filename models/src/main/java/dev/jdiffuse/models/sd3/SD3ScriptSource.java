package dev.jdiffuse.models.sd3;

import dev.jdiffuse.models.nn.ScriptWeights;
import dev.jdiffuse.models.transformer.ModulationScript;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The TorchScript source of a whole {@link SD3Transformer2DModel} forward, generated from its config, and the order of
 * the weights that the script takes as one list. The script computes what the Java modules compute, op for op (see
 * their javadoc): the patch embedding plus the cropped positions, the conditioning vector
 * ({@link CombinedTimestepTextProjEmbeddings}), the joint blocks ({@link JointTransformerBlock}, with SD 3.5's per-head
 * RMS norms, MMDiT-X second attention and the context-pre-only last block), {@code norm_out}, {@code proj_out} and the
 * unpatchifying.
 *
 * <p>Method {@code forward(x, ctx, pooled, tf, pos, w) -> out} of class {@value #CLASS}: x the latents [B, C, H, W],
 * ctx [B, L, joint_attention_dim], pooled [B, P] (any float dtype; cast to the weights'), tf the timesteps' sinusoid
 * [B, 256] float32 (host or device), pos the positions [1, (H/p)(W/p), D] in the weights' dtype
 * ({@code PatchEmbed.positions}), w the weights in {@link #weightNames()} order -> [B, out_channels, H, W] in the
 * weights' dtype. Each block variant (plain, MMDiT-X, context-pre-only, or both) has its own helper, which reads its
 * weights at fixed offsets from a base index.
 *
 * @param code the {@code code/__torch__.py} text
 * @param weightNames parameter paths in list order
 */
record SD3ScriptSource(String code, List<String> weightNames) {

    static final String CLASS = "SD3Script";

    /** The weights every model has before its blocks, in list order (their offsets are fixed). */
    private static final List<String> HEAD = List.of("pos_embed.proj", "context_embedder",
            "time_text_embed.timestep_embedder.linear_1", "time_text_embed.timestep_embedder.linear_2",
            "time_text_embed.text_embedder.linear_1", "time_text_embed.text_embedder.linear_2", "norm_out.linear",
            "proj_out");

    /**
     * @throws UnsupportedOperationException when the model's parameters are not the ones this generator reads (the
     *     caller then keeps the composite forward)
     */
    static SD3ScriptSource of(SD3TransformerConfig config, Set<String> parameterNames) {
        if (config.qkNorm() != null && !"rms_norm".equals(config.qkNorm())) {
            throw new UnsupportedOperationException("qk_norm " + config.qkNorm());
        }
        boolean qk = config.qkNorm() != null;
        List<String> names = new ArrayList<>();
        for (String p : HEAD) {
            names.add(p + ".weight");
            names.add(p + ".bias");
        }
        Map<String, Variant> variants = new LinkedHashMap<>();
        StringBuilder calls = new StringBuilder();
        for (int i = 0; i < config.numLayers(); i++) {
            boolean last = i == config.numLayers() - 1;
            boolean dual = config.dualAttentionLayers().contains(i);
            Variant v = variants.computeIfAbsent((dual ? "x" : "") + (last ? "last" : "joint"),
                    k -> new Variant(k, dual, last, qk));
            int base = names.size();
            for (String s : v.weights) {
                names.add("transformer_blocks." + i + "." + s);
            }
            calls.append(last
                    ? String.format("    x = self.block_%s(x, c, st, w, %d)%n", v.name, base)
                    : String.format("    xc = self.block_%s(x, c, st, w, %d)%n    x = xc[0]%n    c = xc[1]%n",
                            v.name, base));
        }
        ScriptWeights.requireSameNames("SD3 transformer", names, parameterNames);
        return new SD3ScriptSource(code(config, variants.values(), calls.toString()), List.copyOf(names));
    }

    /** One kind of joint block: its weights in the order its helper reads them, and the helper's text. */
    private static final class Variant {
        final String name;
        final List<String> weights = new ArrayList<>();
        final String method;

        Variant(String name, boolean dual, boolean preOnly, boolean qk) {
            this.name = name;
            Map<String, Integer> at = new LinkedHashMap<>();
            for (String p : List.of("norm1.linear", "norm1_context.linear", "attn.to_q", "attn.to_k", "attn.to_v",
                    "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_out.0", "ff.net.0.proj",
                    "ff.net.2")) {
                pair(at, p);
            }
            if (!preOnly) {
                for (String p : List.of("attn.to_add_out", "ff_context.net.0.proj", "ff_context.net.2")) {
                    pair(at, p);
                }
            }
            if (qk) {
                for (String p : List.of("attn.norm_q", "attn.norm_k", "attn.norm_added_q", "attn.norm_added_k")) {
                    one(at, p + ".weight");
                }
            }
            if (dual) {
                for (String p : List.of("attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0")) {
                    pair(at, p);
                }
                if (qk) {
                    one(at, "attn2.norm_q.weight");
                    one(at, "attn2.norm_k.weight");
                }
            }
            weights.addAll(at.keySet());
            java.util.function.Function<String, String> w = n -> "w[i + " + at.get(n) + "]";
            java.util.function.BiFunction<String, String, String> lin = (in, p) -> "torch.linear(" + in + ", "
                    + w.apply(p + ".weight") + ", " + w.apply(p + ".bias") + ")";
            java.util.function.BiFunction<String, String, String> qkn = (t, p) -> qk
                    ? "self.qk(" + t + ", " + w.apply(p + ".weight") + ")" : t;
            StringBuilder s = new StringBuilder();
            s.append("  def block_").append(name).append("(self: __torch__.").append(CLASS)
                    .append(", x: Tensor, c: Tensor, st: Tensor, w: List[Tensor], i: int) -> ")
                    .append(preOnly ? "Tensor" : "List[Tensor]").append(":\n");
            s.append("    lx = x.size(1)\n");
            s.append("    m = torch.chunk(").append(lin.apply("st", "norm1.linear")).append(", ").append(dual ? 9 : 6)
                    .append(", 1)\n");
            s.append("    nx = self.norm(x)\n");
            s.append("    n = self.modulate(nx, m[0], m[1])\n");
            if (preOnly) {
                // AdaLayerNormContinuous: linear(silu(temb)) gives scale, then shift
                s.append("    o = torch.chunk(").append(lin.apply("st", "norm1_context.linear")).append(", 2, 1)\n");
                s.append("    nc = self.modulate(self.norm(c), o[1], o[0])\n");
            } else {
                s.append("    mc = torch.chunk(").append(lin.apply("st", "norm1_context.linear")).append(", 6, 1)\n");
                s.append("    nc = self.modulate(self.norm(c), mc[0], mc[1])\n");
            }
            // the joint sequence is [image, context] (SD 3's order)
            s.append("    q = torch.cat([").append(qkn.apply(lin.apply("n", "attn.to_q"), "attn.norm_q")).append(", ")
                    .append(qkn.apply(lin.apply("nc", "attn.add_q_proj"), "attn.norm_added_q")).append("], 1)\n");
            s.append("    k = torch.cat([").append(qkn.apply(lin.apply("n", "attn.to_k"), "attn.norm_k")).append(", ")
                    .append(qkn.apply(lin.apply("nc", "attn.add_k_proj"), "attn.norm_added_k")).append("], 1)\n");
            s.append("    v = torch.cat([").append(lin.apply("n", "attn.to_v")).append(", ")
                    .append(lin.apply("nc", "attn.add_v_proj")).append("], 1)\n");
            s.append("    a = self.attend(q, k, v)\n");
            s.append("    x = self.gated(x, m[2], ").append(lin.apply("torch.narrow(a, 1, 0, lx)", "attn.to_out.0"))
                    .append(")\n");
            if (dual) {
                s.append("    n2 = self.modulate(nx, m[6], m[7])\n");
                s.append("    a2 = self.attend(").append(qkn.apply(lin.apply("n2", "attn2.to_q"), "attn2.norm_q"))
                        .append(", ").append(qkn.apply(lin.apply("n2", "attn2.to_k"), "attn2.norm_k")).append(", ")
                        .append(lin.apply("n2", "attn2.to_v")).append(")\n");
                s.append("    x = self.gated(x, m[8], ").append(lin.apply("a2", "attn2.to_out.0")).append(")\n");
            }
            s.append("    x = self.gated(x, m[5], ").append(lin.apply("torch.gelu(" + lin.apply(
                    "self.modulate(self.norm(x), m[3], m[4])", "ff.net.0.proj") + ", approximate=\"tanh\")",
                    "ff.net.2")).append(")\n");
            if (preOnly) {
                s.append("    return x\n");
            } else {
                s.append("    c = self.gated(c, mc[2], ").append(lin.apply("torch.narrow(a, 1, lx, a.size(1) - lx)",
                        "attn.to_add_out")).append(")\n");
                s.append("    c = self.gated(c, mc[5], ").append(lin.apply("torch.gelu(" + lin.apply(
                        "self.modulate(self.norm(c), mc[3], mc[4])", "ff_context.net.0.proj")
                        + ", approximate=\"tanh\")", "ff_context.net.2")).append(")\n");
                s.append("    return [x, c]\n");
            }
            this.method = s.toString();
        }

        private static void pair(Map<String, Integer> at, String p) {
            one(at, p + ".weight");
            one(at, p + ".bias");
        }

        private static void one(Map<String, Integer> at, String n) {
            at.put(n, at.size());
        }
    }

    private static String code(SD3TransformerConfig c, java.util.Collection<Variant> variants, String calls) {
        String self = "self: __torch__." + CLASS;
        int heads = c.numAttentionHeads();
        int p = c.patchSize();
        int out = c.outChannels();
        StringBuilder s = new StringBuilder();
        s.append("class ").append(CLASS).append("(Module):\n  __parameters__ = []\n  __buffers__ = []\n")
                .append("  training : bool\n");
        // per-head RMS norm of [B, L, H*Dh] in float32 (RMSNorm; serialized TorchScript spells float32 as 6), cast
        // back, times the weight
        s.append("  def qk(").append(self).append(", t: Tensor, w: Tensor) -> Tensor:\n")
                .append("    h32 = t.reshape(t.size(0), t.size(1), ").append(heads).append(", t.size(2) // ")
                .append(heads).append(").to(6)\n")
                .append("    y = torch.div(h32, torch.sqrt(torch.add(torch.mean(torch.mul(h32, h32), [-1], True),"
                        + " 1e-06)))\n")
                .append("    return torch.mul(y.to(t.dtype), w).reshape(t.size(0), t.size(1), t.size(2))\n");
        // softmax(q k^T / sqrt(Dh)) v over [B, S, H*Dh] inputs -> [B, S, H*Dh]
        s.append("  def attend(").append(self).append(", q: Tensor, k: Tensor, v: Tensor) -> Tensor:\n")
                .append("    b = q.size(0)\n    l = q.size(1)\n    d = q.size(2) // ").append(heads).append("\n")
                .append("    o = torch.scaled_dot_product_attention(torch.transpose(q.reshape(b, l, ").append(heads)
                .append(", d), 1, 2), torch.transpose(k.reshape(b, k.size(1), ").append(heads)
                .append(", d), 1, 2), torch.transpose(v.reshape(b, v.size(1), ").append(heads).append(", d), 1, 2))\n")
                .append("    return torch.transpose(o, 1, 2).reshape(b, l, q.size(2))\n");
        s.append(ModulationScript.helpers(CLASS));
        for (Variant v : variants) {
            s.append(v.method);
        }
        s.append("  def forward(").append(self).append(", x: Tensor, ctx: Tensor, pooled: Tensor, tf: Tensor,"
                + " pos: Tensor, w: List[Tensor]) -> Tensor:\n")
                .append("    dt = w[0].dtype\n")
                .append("    b = x.size(0)\n    hh = x.size(2) // ").append(p).append("\n    ww = x.size(3) // ")
                .append(p).append("\n")
                // PatchEmbed: a p x p stride-p convolution, [B, D, h*w] -> [B, h*w, D], plus the positions
                .append("    e = torch.conv2d(x.to(dt), w[0], w[1], [").append(p).append(", ").append(p)
                .append("])\n")
                .append("    x = torch.add(torch.transpose(e.reshape(b, e.size(1), hh * ww), 1, 2), pos)\n")
                // the sinusoid may come from the host: copied without waiting for the device
                .append("    temb = torch.add(self.embed(tf.to(device=x.device, dtype=dt, non_blocking=True), w, 4),"
                        + " self.embed(pooled.to(dt), w, 8))\n")
                .append("    c = torch.linear(ctx.to(dt), w[2], w[3])\n")
                .append("    st = torch.silu(temb)\n")
                .append(calls)
                // norm_out (AdaLayerNormContinuous): scale, then shift; proj_out; unpatchify (nhwpqc -> nchpwq)
                .append("    o = torch.chunk(torch.linear(st, w[12], w[13]), 2, 1)\n")
                .append("    t = torch.linear(self.modulate(self.norm(x), o[1], o[0]), w[14], w[15])\n")
                .append("    t = t.reshape(b, hh, ww, ").append(p).append(", ").append(p).append(", ").append(out)
                .append(").permute([0, 5, 1, 3, 2, 4])\n")
                .append("    return t.reshape(b, ").append(out).append(", hh * ").append(p).append(", ww * ")
                .append(p).append(")\n");
        return s.toString();
    }
}
