package dev.jdiffuse.models.flux;

import dev.jdiffuse.models.nn.ScriptWeights;
import dev.jdiffuse.models.transformer.ModulationScript;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The TorchScript source of a whole {@link FluxTransformer2DModel} forward, generated from its config, and the order of
 * the weights that the script takes as one list. The script computes what the Java modules compute, op for op (see
 * each module's javadoc): the conditioning vector ({@link FluxTimeTextEmbedding}), the double-stream blocks
 * ({@link FluxTransformerBlock}: adaLN-Zero, joint attention with per-head RMS norms and 3-axis RoPE, tanh-GELU
 * MLPs), the single-stream blocks ({@link FluxSingleTransformerBlock}), {@code norm_out} and {@code proj_out}, with
 * the float16 clip after every block ({@link FluxHalf}).
 *
 * <p>Method {@code forward(tokens, ctx, pooled, tf, gf, cos, sin, w) -> velocity} of class {@value #CLASS}: tokens
 * [B, N, in_channels], ctx [B, Lc, joint_attention_dim], pooled [B, P] (any float dtype; cast to the weights'),
 * tf the timesteps' sinusoid [B, 256] float32 and gf the guidance's as a one-element list (empty without a guidance
 * embedder), both on the host or the device, cos and sin the RoPE tables [1, Lc + N, 1, head_dim] float32
 * ({@link FluxRope#tables}), w the weights in {@link #weightNames()} order -> [B, N, out] in the weights' dtype.
 * Helpers {@code double_block}, {@code single_block}, {@code attend}, {@code qk}, {@code rope} read their weights at
 * fixed offsets from a base index.
 *
 * @param code the {@code code/__torch__.py} text
 * @param weightNames parameter paths in list order
 */
record FluxScriptSource(String code, List<String> weightNames) {

    static final String CLASS = "FluxScript";

    /** Weights per double-stream block, in the order {@code double_block} reads them. */
    private static final List<String> DOUBLE = List.of("norm1.linear.weight", "norm1.linear.bias",
            "norm1_context.linear.weight", "norm1_context.linear.bias",
            "attn.to_q.weight", "attn.to_q.bias", "attn.to_k.weight", "attn.to_k.bias", "attn.to_v.weight",
            "attn.to_v.bias", "attn.norm_q.weight", "attn.norm_k.weight",
            "attn.add_q_proj.weight", "attn.add_q_proj.bias", "attn.add_k_proj.weight", "attn.add_k_proj.bias",
            "attn.add_v_proj.weight", "attn.add_v_proj.bias", "attn.norm_added_q.weight", "attn.norm_added_k.weight",
            "attn.to_out.0.weight", "attn.to_out.0.bias", "attn.to_add_out.weight", "attn.to_add_out.bias",
            "ff.net.0.proj.weight", "ff.net.0.proj.bias", "ff.net.2.weight", "ff.net.2.bias",
            "ff_context.net.0.proj.weight", "ff_context.net.0.proj.bias", "ff_context.net.2.weight",
            "ff_context.net.2.bias");
    /** Weights per single-stream block, in the order {@code single_block} reads them. */
    private static final List<String> SINGLE = List.of("norm.linear.weight", "norm.linear.bias",
            "proj_mlp.weight", "proj_mlp.bias", "attn.to_q.weight", "attn.to_q.bias", "attn.to_k.weight",
            "attn.to_k.bias", "attn.to_v.weight", "attn.to_v.bias", "attn.norm_q.weight", "attn.norm_k.weight",
            "proj_out.weight", "proj_out.bias");

    /**
     * @throws UnsupportedOperationException when the model's parameters are not the ones this generator reads (the
     *     caller then keeps the composite forward)
     */
    static FluxScriptSource of(FluxTransformerConfig config, Set<String> parameterNames) {
        List<String> names = new ArrayList<>();
        for (String p : List.of("x_embedder", "context_embedder", "time_text_embed.timestep_embedder.linear_1",
                "time_text_embed.timestep_embedder.linear_2")) {
            names.add(p + ".weight");
            names.add(p + ".bias");
        }
        if (config.guidanceEmbeds()) {
            for (String p : List.of("time_text_embed.guidance_embedder.linear_1",
                    "time_text_embed.guidance_embedder.linear_2")) {
                names.add(p + ".weight");
                names.add(p + ".bias");
            }
        }
        for (String p : List.of("time_text_embed.text_embedder.linear_1", "time_text_embed.text_embedder.linear_2",
                "norm_out.linear", "proj_out")) {
            names.add(p + ".weight");
            names.add(p + ".bias");
        }
        int head = names.size();
        for (int i = 0; i < config.numLayers(); i++) {
            for (String s : DOUBLE) {
                names.add("transformer_blocks." + i + "." + s);
            }
        }
        for (int i = 0; i < config.numSingleLayers(); i++) {
            for (String s : SINGLE) {
                names.add("single_transformer_blocks." + i + "." + s);
            }
        }
        ScriptWeights.requireSameNames("FLUX transformer", names, parameterNames);
        return new FluxScriptSource(code(config, head), List.copyOf(names));
    }

    private static String code(FluxTransformerConfig c, int head) {
        String self = "self: __torch__." + CLASS;
        int heads = c.numAttentionHeads();
        // the text embedder's weights follow the guidance embedder's when there is one
        int text = c.guidanceEmbeds() ? 12 : 8;
        StringBuilder s = new StringBuilder();
        s.append("class ").append(CLASS).append("(Module):\n  __parameters__ = []\n  __buffers__ = []\n")
                .append("  training : bool\n");
        // the residual streams are clipped to float16's range after every block (FluxHalf); other dtypes pass.
        // Serialized TorchScript spells dtypes as their ScalarType numbers: 5 is Half, 6 Float (c10/core/ScalarType.h)
        s.append("  def clip(").append(self).append(", x: Tensor) -> Tensor:\n")
                .append("    if x.dtype == 5:\n      return torch.clamp(x, -65504.0, 65504.0)\n")
                .append("    return x\n");
        // x [B, L, D] -> [B, L, H, Dh], RMS-normed per head in float32 (RMSNorm), cast back, times the weight
        s.append("  def qk(").append(self).append(", t: Tensor, w: Tensor) -> Tensor:\n")
                .append("    h = t.reshape(t.size(0), t.size(1), ").append(heads).append(", t.size(2) // ")
                .append(heads).append(")\n")
                .append("    h32 = h.to(6)\n")
                .append("    y = torch.div(h32, torch.sqrt(torch.add(torch.mean(torch.mul(h32, h32), [-1], True),"
                        + " 1e-06)))\n")
                .append("    return torch.mul(y.to(t.dtype), w)\n");
        // RoPE on [B, S, H, Dh] in float32: pairs (a, b) -> (a cos - b sin, b cos + a sin) (FluxRope.apply)
        s.append("  def rope(").append(self).append(", x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:\n")
                .append("    x32 = x.to(6)\n")
                .append("    p = torch.unbind(x32.reshape(x.size(0), x.size(1), x.size(2), x.size(3) // 2, 2), -1)\n")
                .append("    r = torch.stack([torch.neg(p[1]), p[0]], -1).reshape(x.size(0), x.size(1), x.size(2),"
                        + " x.size(3))\n")
                .append("    return torch.add(torch.mul(x32, cos), torch.mul(r, sin)).to(x.dtype)\n");
        // softmax(q k^T / sqrt(Dh)) v over q, k [B, S, H, Dh] and v [B, S, H*Dh] -> [B, S, H*Dh]
        s.append("  def attend(").append(self).append(", q: Tensor, k: Tensor, v: Tensor, cos: Tensor, sin: Tensor)"
                + " -> Tensor:\n")
                .append("    b = v.size(0)\n    l = v.size(1)\n    c = v.size(2)\n")
                .append("    qh = torch.transpose(self.rope(q, cos, sin), 1, 2)\n")
                .append("    kh = torch.transpose(self.rope(k, cos, sin), 1, 2)\n")
                .append("    vh = torch.transpose(v.reshape(b, l, ").append(heads).append(", c // ").append(heads)
                .append("), 1, 2)\n")
                .append("    o = torch.scaled_dot_product_attention(qh, kh, vh)\n")
                .append("    return torch.transpose(o, 1, 2).reshape(b, l, c)\n");
        s.append(ModulationScript.helpers(CLASS));
        s.append("  def mlp(").append(self).append(", x: Tensor, w: List[Tensor], i: int) -> Tensor:\n")
                .append("    return torch.linear(torch.gelu(torch.linear(x, w[i], w[i + 1]), approximate=\"tanh\"),"
                        + " w[i + 2], w[i + 3])\n");
        // FluxTransformerBlock; st = silu(temb); returns [x, context]
        s.append("  def double_block(").append(self).append(", x: Tensor, c: Tensor, st: Tensor, cos: Tensor,"
                + " sin: Tensor, w: List[Tensor], i: int) -> List[Tensor]:\n")
                .append("    lc = c.size(1)\n")
                .append("    m = torch.chunk(torch.linear(st, w[i], w[i + 1]), 6, 1)\n")
                .append("    mc = torch.chunk(torch.linear(st, w[i + 2], w[i + 3]), 6, 1)\n")
                .append("    n = self.modulate(self.norm(x), m[0], m[1])\n")
                .append("    nc = self.modulate(self.norm(c), mc[0], mc[1])\n")
                .append("    q = torch.cat([self.qk(torch.linear(nc, w[i + 12], w[i + 13]), w[i + 18]),"
                        + " self.qk(torch.linear(n, w[i + 4], w[i + 5]), w[i + 10])], 1)\n")
                .append("    k = torch.cat([self.qk(torch.linear(nc, w[i + 14], w[i + 15]), w[i + 19]),"
                        + " self.qk(torch.linear(n, w[i + 6], w[i + 7]), w[i + 11])], 1)\n")
                .append("    v = torch.cat([torch.linear(nc, w[i + 16], w[i + 17]), torch.linear(n, w[i + 8],"
                        + " w[i + 9])], 1)\n")
                .append("    a = self.attend(q, k, v, cos, sin)\n")
                .append("    ax = torch.narrow(a, 1, lc, a.size(1) - lc)\n")
                .append("    ac = torch.narrow(a, 1, 0, lc)\n")
                .append("    x = self.gated(x, m[2], torch.linear(ax, w[i + 20], w[i + 21]))\n")
                .append("    x = self.gated(x, m[5], self.mlp(self.modulate(self.norm(x), m[3], m[4]), w, i + 24))\n")
                .append("    c = self.gated(c, mc[2], torch.linear(ac, w[i + 22], w[i + 23]))\n")
                .append("    c = self.gated(c, mc[5], self.mlp(self.modulate(self.norm(c), mc[3], mc[4]), w, i + 28))\n")
                .append("    return [self.clip(x), self.clip(c)]\n");
        // FluxSingleTransformerBlock over h = [context, image]
        s.append("  def single_block(").append(self).append(", h: Tensor, st: Tensor, cos: Tensor, sin: Tensor,"
                + " w: List[Tensor], i: int) -> Tensor:\n")
                .append("    m = torch.chunk(torch.linear(st, w[i], w[i + 1]), 3, 1)\n")
                .append("    n = self.modulate(self.norm(h), m[0], m[1])\n")
                .append("    mlp = torch.gelu(torch.linear(n, w[i + 2], w[i + 3]), approximate=\"tanh\")\n")
                .append("    a = self.attend(self.qk(torch.linear(n, w[i + 4], w[i + 5]), w[i + 10]),"
                        + " self.qk(torch.linear(n, w[i + 6], w[i + 7]), w[i + 11]), torch.linear(n, w[i + 8],"
                        + " w[i + 9]), cos, sin)\n")
                .append("    return self.clip(self.gated(h, m[2], torch.linear(torch.cat([a, mlp], 2), w[i + 12],"
                        + " w[i + 13])))\n");
        s.append("  def forward(").append(self).append(", tokens: Tensor, ctx: Tensor, pooled: Tensor, tf: Tensor,"
                + " gf: List[Tensor], cos: Tensor, sin: Tensor, w: List[Tensor]) -> Tensor:\n")
                .append("    dt = w[0].dtype\n")
                .append("    x = torch.linear(tokens.to(dt), w[0], w[1])\n")
                // the sinusoids may come from the host: copied without waiting for the device
                .append("    temb = self.embed(tf.to(device=x.device, dtype=dt, non_blocking=True), w, 4)\n");
        if (c.guidanceEmbeds()) {
            s.append("    temb = torch.add(temb, self.embed(gf[0].to(device=x.device, dtype=dt, non_blocking=True),"
                    + " w, 8))\n");
        }
        s.append("    temb = torch.add(temb, self.embed(pooled.to(dt), w, ").append(text).append("))\n")
                .append("    c = torch.linear(ctx.to(dt), w[2], w[3])\n")
                .append("    lc = c.size(1)\n")
                .append("    st = torch.silu(temb)\n")
                .append("    for n in range(").append(c.numLayers()).append("):\n")
                .append("      xc = self.double_block(x, c, st, cos, sin, w, ").append(head).append(" + ")
                .append(DOUBLE.size()).append(" * n)\n")
                .append("      x = xc[0]\n      c = xc[1]\n")
                .append("    h = torch.cat([c, x], 1)\n")
                .append("    for n in range(").append(c.numSingleLayers()).append("):\n")
                .append("      h = self.single_block(h, st, cos, sin, w, ")
                .append(head + DOUBLE.size() * c.numLayers()).append(" + ").append(SINGLE.size()).append(" * n)\n")
                .append("    x = torch.narrow(h, 1, lc, h.size(1) - lc)\n")
                // norm_out (AdaLayerNormContinuous): linear(silu(temb)) gives scale, then shift
                .append("    o = torch.chunk(torch.linear(st, w[").append(text + 4).append("], w[").append(text + 5)
                .append("]), 2, 1)\n")
                .append("    return torch.linear(self.modulate(self.norm(x), o[1], o[0]), w[").append(text + 6)
                .append("], w[").append(text + 7).append("])\n");
        return s.toString();
    }
}
