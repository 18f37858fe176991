package dev.jdiffuse.models.unet;

import dev.jdiffuse.models.nn.ScriptWeights;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The TorchScript source of a whole {@link UNet2DConditionModel} forward, generated from its config, and the order of
 * the weights that the script takes as one list. The script computes what the Java modules compute (see each
 * module's javadoc for the formulas; it regroups a few ops for the GPU's sake without changing the maps: convolution
 * biases folded into the time projection or the shortcut, 1x1 projections as linears, GEGLU's halves as two linears
 * at large batches): ResnetBlock2D, Transformer2DModel with BasicTransformerBlocks
 * (attention through {@code torch.scaled_dot_product_attention}, as {@link dev.jdiffuse.models.nn.FusedOps} does),
 * GEGLU, the stride-2 downsamplers, nearest upsampling to the next skip's size, the SDXL text_time embedding and
 * the ControlNet residuals.
 *
 * <p>Methods of class {@value #CLASS}:
 * <ul>
 * <li>{@code project(ctx, w) -> kv}: the text context's keys and values of every cross-attention layer, by head
 *     ([B, H, Lc, D] each, k then v, layers in forward order); made once per text context.</li>
 * <li>{@code forward(x, tproj, kv, w, add, res) -> out}: x [B, C, H, W] (any float dtype; cast to the weights'),
 *     tproj the sinusoidal timestep features [B, c0] float32 (on the host or the device), kv from {@code project}, w the weights in
 *     {@link #weightNames()} order, add {@code [text_embeds, time_ids]} for SDXL or empty, res the ControlNet
 *     residuals (one per skip, then the mid one) or empty -> [B, out_channels, H, W] in the weights' dtype.</li>
 * </ul>
 * Helper methods ({@code resnet}, {@code transformer}, {@code block}, ...) read their weights at fixed offsets from a
 * base index; the generator appends each module's weights in that order ({@link #resnet}, {@link #transformer}).
 *
 * @param code the {@code code/__torch__.py} text
 * @param weightNames parameter paths ({@code down_blocks.0.resnets.0.norm1.weight}, ...) in list order, and the
 *     names of the constants among them
 * @param constants names of the non-parameter tensors in the list: {@value #TIME_ID_FREQS} (SDXL) or none
 * @param skips number of skip connections (the ControlNet down residuals it takes)
 */
record UNetScriptSource(String code, List<String> weightNames, List<String> constants, int skips) {

    static final String CLASS = "UNetScript";
    /** The class of a ControlNet's script ({@link #ofControlNet}). */
    static final String CONTROLNET_CLASS = "ControlNetScript";
    /** The frequencies of SDXL's time-id features, [1, addition_time_embed_dim / 2] float32. */
    static final String TIME_ID_FREQS = "#time_id_freqs";

    /**
     * Rows (batch entries) from which a GEGLU feed-forward computes its two halves with two linears over the halves of
     * its weight instead of one linear and {@code chunk}: chunk's halves are strided views, so gelu and the product
     * ran PyTorch's strided elementwise kernel over the largest activations of the network ([rows, H*W, 4C] each).
     * Measured (H100, bench/gpu/script_vs_diffusers.py VARIANTS=split, session 14, CUDA-graph replays): SD 1.5 at 32
     * rows 94.1 ms against 97.4, the same output bit for bit; at 2 rows 11.67 against 11.92 ms of GPU time, but the
     * host-bound small batch pays the split's extra ops on the host, so small batches keep chunk.
     */
    static final int SPLIT_GEGLU_ROWS = 8;

    /** Weights per BasicTransformerBlock that {@code block()} reads; its cross-attention's to_k and to_v follow. */
    private static final int BLOCK_WEIGHTS = 18;

    /**
     * @throws UnsupportedOperationException when the config has something the generator does not write (the caller
     *     then keeps the composite forward)
     */
    static UNetScriptSource of(UNet2DConditionConfig config, Set<String> parameterNames) {
        requireSilu(config.actFn());
        Generator g = new Generator(CLASS, config.encoderLayout(), config, null);
        return g.source(g.generate(), "UNet", parameterNames);
    }

    /**
     * A {@link ControlNetModel}'s script (class {@value #CONTROLNET_CLASS}): {@code project} as the UNet's, and
     * {@code forward(x, tproj, kv, w, add, cond, scale) -> residuals}: the encoder of the UNet's forward with the
     * embedded control image added after conv_in, and each skip connection and the mid block's output through its
     * zero convolution times {@code scale} (the down residuals in skip order, then the mid one). cond is the control
     * image [B, conditioning_channels, 8H, 8W], already in the model's channel order.
     *
     * @throws UnsupportedOperationException as {@link #of}
     */
    static UNetScriptSource ofControlNet(ControlNetConfig config, Set<String> parameterNames) {
        requireSilu(config.actFn());
        Generator g = new Generator(CONTROLNET_CLASS, config.encoderLayout(), null, config);
        return g.source(g.generateControlNet(), "ControlNet", parameterNames);
    }

    private static void requireSilu(String actFn) {
        if (!"silu".equals(actFn) && !"swish".equals(actFn)) {
            // the Java modules use SiLU whatever act_fn says; mirror them only for the configs they were made for
            throw new UnsupportedOperationException("act_fn " + actFn);
        }
    }


    private static final class Generator {
        private final String cls;
        /** The encoder half (conv_in, time embedding, down blocks, mid block), which the ControlNet shares. */
        private final EncoderLayout e;
        /** The UNet's config (its decoder half), or null for a ControlNet. */
        private final UNet2DConditionConfig c;
        /** The ControlNet's config, or null for a UNet. */
        private final ControlNetConfig cn;
        private final List<String> names = new ArrayList<>();
        private final List<String> constants = new ArrayList<>();
        private final Map<String, Integer> index = new HashMap<>();
        /** (to_k, to_v, heads) of each cross-attention layer, in forward order: what {@code project} emits. */
        private final List<int[]> kvWeights = new ArrayList<>();
        private final StringBuilder body = new StringBuilder();
        private int skipCount;

        Generator(String cls, EncoderLayout e, UNet2DConditionConfig c, ControlNetConfig cn) {
            this.cls = cls;
            this.e = e;
            this.c = c;
            this.cn = cn;
        }

        UNetScriptSource source(String code, String what, Set<String> parameterNames) {
            List<String> params = names.stream().filter(n -> !constants.contains(n)).toList();
            ScriptWeights.requireSameNames(what, params, parameterNames);
            return new UNetScriptSource(code, List.copyOf(names), List.copyOf(constants), skipCount);
        }

        private int w(String name) {
            if (index.containsKey(name)) {
                throw new IllegalStateException("weight listed twice: " + name);
            }
            index.put(name, names.size());
            names.add(name);
            return names.size() - 1;
        }

        private void line(String fmt, Object... args) {
            body.append("    ").append(String.format(Locale.ROOT, fmt, args)).append('\n');
        }

        String generate() {
            int levels = e.levels();
            List<Integer> ch = e.blockOutChannels();
            int pOut = (c.convOutKernel() - 1) / 2;
            line("dt = w[0].dtype");
            line("x = x.to(dt)");
            if (c.centerInputSample()) {
                line("x = x * 2.0 - 1.0");
            }
            encoder(false);
            // ControlNet residuals go to the skips; the mid block's input is the last skip without its residual
            line("if len(res) > 0:");
            line("  for n in range(%d):", skipCount);
            line("    skips[n] = skips[n] + res[n].to(dt)");
            middle();
            line("if len(res) > 0:");
            line("  h = h + res[%d].to(dt)", skipCount);
            List<Integer> rch = new ArrayList<>(ch);
            Collections.reverse(rch);
            List<Integer> rLayers = new ArrayList<>(c.layersPerBlock());
            Collections.reverse(rLayers);
            int out = rch.get(0);
            for (int i = 0; i < levels; i++) {
                int prev = out;
                out = rch.get(i);
                int in = rch.get(Math.min(i + 1, levels - 1));
                boolean attn = UNetConfigFields.CROSS_ATTN_UP.equals(c.upBlockTypes().get(i));
                int layers = rLayers.get(i) + 1;
                for (int l = 0; l < layers; l++) {
                    int skip = l == layers - 1 ? in : out;
                    int resIn = (l == 0 ? prev : out) + skip;
                    String p = "up_blocks." + i + ".";
                    line("h = torch.cat([h, skips.pop()], 1)");
                    int r = resnet(p + "resnets." + l, resIn != out);
                    line("h = self.resnet(h, emb, w, %d, %s, 1.0)", r, py(resIn != out));
                    if (attn) {
                        transformerCall(p + "attentions." + l, levels - 1 - i);
                    }
                }
                if (i < levels - 1) {
                    int u = w("up_blocks." + i + ".upsamplers.0.conv.weight");
                    w("up_blocks." + i + ".upsamplers.0.conv.bias");
                    // nearest to the size of the skip the next block consumes first (2x unless an odd size)
                    line("h = torch.upsample_nearest2d(h, [skips[-1].size(2), skips[-1].size(3)])");
                    line("h = torch.conv2d(h, w[%d], w[%d], [1, 1], [1, 1])", u, u + 1);
                }
            }
            int no = w("conv_norm_out.weight");
            w("conv_norm_out.bias");
            int co = w("conv_out.weight");
            w("conv_out.bias");
            line("h = torch.silu(torch.group_norm(h, %d, w[%d], w[%d], %s))", c.normNumGroups(), no, no + 1,
                    py(c.normEps()));
            line("return torch.conv2d(h, w[%d], w[%d], [1, 1], [%d, %d])", co, co + 1, pOut, pOut);
            String forward = body.toString();
            return header() + helpers() + projectMethod()
                    + "  def forward(self: __torch__." + cls + ", x: Tensor, tproj: Tensor, kv: List[Tensor], "
                    + "w: List[Tensor], add: List[Tensor], res: List[Tensor]) -> Tensor:\n" + forward;
        }

        /** {@code project(ctx, w)}: every cross-attention layer's keys and values of a text context, by head. */
        private String projectMethod() {
            body.setLength(0);
            line("c = ctx.to(w[0].dtype)");
            line("kv: List[Tensor] = []");
            for (int[] kv : kvWeights) {
                line("kv.append(self.by_head(torch.linear(c, w[%d]), %d))", kv[0], kv[2]);
                line("kv.append(self.by_head(torch.linear(c, w[%d]), %d))", kv[1], kv[2]);
            }
            line("return kv");
            return "  def project(self: __torch__." + cls + ", ctx: Tensor, w: List[Tensor]) -> List[Tensor]:\n"
                    + body;
        }

        /**
         * conv_in (plus, for a ControlNet, the embedded control image), the time embedding and the down blocks: emits
         * {@code emb}, {@code h} and {@code skips}.
         */
        private void encoder(boolean controlnet) {
            int levels = e.levels();
            List<Integer> ch = e.blockOutChannels();
            int pIn = (e.convInKernel() - 1) / 2;
            int convIn = w("conv_in.weight");
            w("conv_in.bias");
            // time embedding: linear_2(silu(linear_1(features))), silu as x * sigmoid(x) (Activations.silu)
            int te = w("time_embedding.linear_1.weight");
            w("time_embedding.linear_1.bias");
            w("time_embedding.linear_2.weight");
            w("time_embedding.linear_2.bias");
            // tproj may come from the host: copied without waiting for the device (pageable memory is staged
            // before the call returns, so the host array may go right after)
            line("e = torch.linear(tproj.to(device=x.device, dtype=dt, non_blocking=True), w[%d], w[%d])", te, te + 1);
            line("emb = torch.linear(e * torch.sigmoid(e), w[%d], w[%d])", te + 2, te + 3);
            if (e.textTime()) {
                int ae = w("add_embedding.linear_1.weight");
                w("add_embedding.linear_1.bias");
                w("add_embedding.linear_2.weight");
                w("add_embedding.linear_2.bias");
                constants.add(TIME_ID_FREQS);
                int freqs = w(TIME_ID_FREQS);
                // TimeIdFeatures: args = float(ids).reshape(-1, 1) * freqs; [cos, sin] when flip_sin_to_cos
                line("args = add[1].to(w[%d].dtype).reshape(-1, 1) * w[%d]", freqs, freqs);
                line("feats = torch.cat([%s], 1).reshape(x.size(0), -1)",
                        e.flipSinToCos() ? "torch.cos(args), torch.sin(args)" : "torch.sin(args), torch.cos(args)");
                line("a = torch.linear(torch.cat([add[0].to(dt), feats.to(dt)], -1), w[%d], w[%d])", ae, ae + 1);
                line("emb = emb + torch.linear(a * torch.sigmoid(a), w[%d], w[%d])", ae + 2, ae + 3);
            }
            line("emb = emb * torch.sigmoid(emb)");
            line("h = torch.conv2d(x, w[%d], w[%d], [1, 1], [%d, %d])", convIn, convIn + 1, pIn, pIn);
            if (controlnet) {
                condEmbedding();
            }
            line("skips: List[Tensor] = [h]");
            skipCount = 1;
            for (int i = 0; i < levels; i++) {
                boolean attn = e.hasCrossAttention(i);
                int in = i == 0 ? ch.get(0) : ch.get(i - 1);
                for (int l = 0; l < e.layersPerBlock().get(i); l++) {
                    String p = "down_blocks." + i + ".";
                    int r = resnet(p + "resnets." + l, (l == 0 ? in : ch.get(i)) != ch.get(i));
                    line("h = self.resnet(h, emb, w, %d, %s, 1.0)", r, py((l == 0 ? in : ch.get(i)) != ch.get(i)));
                    if (attn) {
                        transformerCall(p + "attentions." + l, i);
                    }
                    line("skips.append(h)");
                    skipCount++;
                }
                if (i < levels - 1) {
                    int d = w("down_blocks." + i + ".downsamplers.0.conv.weight");
                    w("down_blocks." + i + ".downsamplers.0.conv.bias");
                    int pad = e.downsamplePadding();
                    if (pad == 0) {
                        line("h = torch.constant_pad_nd(h, [0, 1, 0, 1], 0.0)");
                    }
                    line("h = torch.conv2d(h, w[%d], w[%d], [2, 2], [%d, %d])", d, d + 1, pad, pad);
                    line("skips.append(h)");
                    skipCount++;
                }
            }
        }

        /** The mid block over {@code h}, when the config has one. */
        private void middle() {
            String mid = e.midBlockType();
            if (mid != null) {
                double scale = e.midBlockScaleFactor();
                int last = e.levels() - 1;
                int r0 = resnet("mid_block.resnets.0", false);
                line("h = self.resnet(h, emb, w, %d, False, %s)", r0, py(scale));
                if (UNetConfigFields.MID_CROSS_ATTN.equals(mid)) {
                    transformerCall("mid_block.attentions.0", last);
                    int r1 = resnet("mid_block.resnets.1", false);
                    line("h = self.resnet(h, emb, w, %d, False, %s)", r1, py(scale));
                }
            }
        }

        /**
         * ControlNetConditioningEmbedding over {@code cond}, added to {@code h}: conv_in and SiLU, per channel step a
         * 3x3 convolution and a stride-2 3x3 convolution each with SiLU, conv_out.
         */
        private void condEmbedding() {
            String p = "controlnet_cond_embedding.";
            int ci = w(p + "conv_in.weight");
            w(p + "conv_in.bias");
            line("c = torch.silu(torch.conv2d(cond.to(dt), w[%d], w[%d], [1, 1], [1, 1]))", ci, ci + 1);
            List<Integer> cc = cn.conditioningEmbeddingOutChannels();
            for (int i = 0; i < 2 * (cc.size() - 1); i++) {
                int b = w(p + "blocks." + i + ".weight");
                w(p + "blocks." + i + ".bias");
                int stride = i % 2 == 0 ? 1 : 2;
                line("c = torch.silu(torch.conv2d(c, w[%d], w[%d], [%d, %d], [1, 1]))", b, b + 1, stride, stride);
            }
            int co = w(p + "conv_out.weight");
            w(p + "conv_out.bias");
            line("h = h + torch.conv2d(c, w[%d], w[%d], [1, 1], [1, 1])", co, co + 1);
        }

        /** A ControlNet's forward: the encoder, the mid block, each output through its zero convolution. */
        String generateControlNet() {
            line("dt = w[0].dtype");
            line("x = x.to(dt)");
            encoder(true);
            middle();
            line("out: List[Tensor] = []");
            for (int i = 0; i < skipCount; i++) {
                int z = w("controlnet_down_blocks." + i + ".weight");
                w("controlnet_down_blocks." + i + ".bias");
                line("out.append(torch.conv2d(skips[%d], w[%d], w[%d]) * scale)", i, z, z + 1);
            }
            int m = w("controlnet_mid_block.weight");
            w("controlnet_mid_block.bias");
            line("out.append(torch.conv2d(h, w[%d], w[%d]) * scale)", m, m + 1);
            line("return out");
            String forward = body.toString();
            return header() + helpers() + projectMethod()
                    + "  def forward(self: __torch__." + cls + ", x: Tensor, tproj: Tensor, kv: List[Tensor], "
                    + "w: List[Tensor], add: List[Tensor], cond: Tensor, scale: float) -> List[Tensor]:\n" + forward;
        }

        /** Appends a ResnetBlock2D's weights in the order {@code resnet()} reads them; returns the base index. */
        private int resnet(String p, boolean shortcut) {
            int base = w(p + ".norm1.weight");
            for (String n : List.of("norm1.bias", "conv1.weight", "conv1.bias", "time_emb_proj.weight",
                    "time_emb_proj.bias", "norm2.weight", "norm2.bias", "conv2.weight", "conv2.bias")) {
                w(p + "." + n);
            }
            if (shortcut) {
                w(p + ".conv_shortcut.weight");
                w(p + ".conv_shortcut.bias");
            }
            return base;
        }

        /** Appends a Transformer2DModel's weights and emits its call; {@code level} picks heads and depth. */
        private void transformerCall(String p, int level) {
            int heads = e.heads().get(level);
            int layers = e.transformerLayersPerBlock().get(level);
            int kvBase = kvWeights.size() * 2;
            int base = w(p + ".norm.weight");
            w(p + ".norm.bias");
            w(p + ".proj_in.weight");
            w(p + ".proj_in.bias");
            for (int n = 0; n < layers; n++) {
                String b = p + ".transformer_blocks." + n + ".";
                int first = names.size();
                for (String s : List.of("norm1.weight", "norm1.bias", "attn1.to_q.weight", "attn1.to_k.weight",
                        "attn1.to_v.weight", "attn1.to_out.0.weight", "attn1.to_out.0.bias", "norm2.weight",
                        "norm2.bias", "attn2.to_q.weight", "attn2.to_out.0.weight", "attn2.to_out.0.bias",
                        "norm3.weight", "norm3.bias", "ff.net.0.proj.weight", "ff.net.0.proj.bias",
                        "ff.net.2.weight", "ff.net.2.bias")) {
                    w(b + s);
                }
                if (names.size() - first != BLOCK_WEIGHTS) {
                    throw new IllegalStateException("block weight count");
                }
                kvWeights.add(new int[] {w(b + "attn2.to_k.weight"), w(b + "attn2.to_v.weight"), heads});
            }
            w(p + ".proj_out.weight");
            w(p + ".proj_out.bias");
            // each block's attn2.to_k/to_v follow its 18 weights: block n starts at base + 4 + n * (18 + 2)
            line("h = self.transformer(h, kv, w, %d, %d, %d, %d)", base, kvBase, layers, heads);
        }

        private String header() {
            return "class " + cls + "(Module):\n  __parameters__ = []\n  __buffers__ = []\n  training : bool\n";
        }

        private String helpers() {
            String self = "self: __torch__." + cls;
            String g = Integer.toString(e.normNumGroups());
            String eps = py(e.normEps());
            boolean linear = e.useLinearProjection();
            String flat = linear ? "" : ".flatten(1)";
            int stride = BLOCK_WEIGHTS + 2;
            // Folded biases: PyTorch adds a cuDNN convolution's bias with a broadcast ([1, C, 1, 1]) add, which runs
            // its strided elementwise kernel over the whole feature map. So a resnet's conv1 bias joins its time
            // projection ([B, C], before the broadcast add that is needed anyway), conv2's joins the shortcut
            // convolution's bias where there is one, and the transformers' 1x1 proj_in / proj_out run as linears
            // (the bias inside the GEMM). Measured (H100, script_vs_diffusers.py VARIANTS, session 14, CUDA-graph
            // replays, SD 1.5): 32 rows 95.4 -> 93.5 ms (biases) / 89.9 (linears) / 88.0 (both; diffusers 100.2);
            // 2 rows 11.94 -> 11.39 ms; 16 concurrent users 5.76 / 5.95 images/s against diffusers' 5.58 as one
            // batch of 16 in the same call.
            return ""
                    // ResnetBlock2D: conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb))))) + shortcut(x),
                    // conv1's bias added to the [B, C] time projection and, with a shortcut convolution, conv2's bias
                    // to the shortcut's (folded biases, above)
                    + "  def resnet(" + self + ", x: Tensor, emb: Tensor, w: List[Tensor], i: int, shortcut: bool,"
                    + " scale: float) -> Tensor:\n"
                    + "    h = torch.conv2d(torch.silu(torch.group_norm(x, " + g + ", w[i], w[i + 1], " + eps + ")),"
                    + " w[i + 2], None, [1, 1], [1, 1])\n"
                    + "    h = h + (torch.linear(emb, w[i + 4], w[i + 5]) + w[i + 3]).unsqueeze(2).unsqueeze(3)\n"
                    + "    if shortcut:\n"
                    + "      h = torch.conv2d(torch.silu(torch.group_norm(h, " + g + ", w[i + 6], w[i + 7], " + eps
                    + ")), w[i + 8], None, [1, 1], [1, 1])\n"
                    + "      x = torch.conv2d(x, w[i + 10], w[i + 11] + w[i + 9])\n"
                    + "    else:\n"
                    + "      h = torch.conv2d(torch.silu(torch.group_norm(h, " + g + ", w[i + 6], w[i + 7], " + eps
                    + ")), w[i + 8], w[i + 9], [1, 1], [1, 1])\n"
                    + "    out = x + h\n"
                    + "    if scale != 1.0:\n"
                    + "      out = out / scale\n"
                    + "    return out\n"
                    // [B, L, H*D] -> [B, H, L, D]
                    + "  def by_head(" + self + ", t: Tensor, heads: int) -> Tensor:\n"
                    + "    return t.reshape(t.size(0), t.size(1), heads, t.size(2) // heads).transpose(1, 2)\n"
                    // softmax(q k^T / sqrt(D)) v for q [B, L, H*D] and k, v by head -> [B, L, H*D]
                    + "  def attend(" + self + ", q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:\n"
                    + "    b = q.size(0)\n    l = q.size(1)\n    c = q.size(2)\n"
                    + "    o = torch.scaled_dot_product_attention(self.by_head(q, heads), k, v)\n"
                    + "    return o.transpose(1, 2).reshape(b, l, c)\n"
                    // BasicTransformerBlock (layer_norm, eps 1e-5) with a GEGLU feed-forward
                    + "  def block(" + self + ", x: Tensor, k: Tensor, v: Tensor, w: List[Tensor], i: int, heads: int)"
                    + " -> Tensor:\n"
                    + "    c = x.size(2)\n"
                    + "    n = torch.layer_norm(x, [c], w[i], w[i + 1], 1e-05)\n"
                    + "    a = self.attend(torch.linear(n, w[i + 2]), self.by_head(torch.linear(n, w[i + 3]), heads),"
                    + " self.by_head(torch.linear(n, w[i + 4]), heads), heads)\n"
                    // each residual sum has the branch first, as diffusers writes them: a sum takes its first
                    // operand's memory layout, and x enters the first block as a transposed view of proj_in's NCHW
                    // output (the reshape of the permuted output is a view). With x first every sum kept that
                    // layout, so each layer_norm copied its input and each sum ran PyTorch's strided kernel: measured
                    // (H200, script_vs_diffusers.py, SD 1.5 batch 32, session 9) 3 copies per transformer instead
                    // of diffusers' 1 and residual sums at half speed, 99.6 ms against diffusers' 94.6 per forward
                    + "    x = torch.linear(a, w[i + 5], w[i + 6]) + x\n"
                    + "    n = torch.layer_norm(x, [c], w[i + 7], w[i + 8], 1e-05)\n"
                    + "    x = torch.linear(self.attend(torch.linear(n, w[i + 9]), k, v, heads), w[i + 10],"
                    + " w[i + 11]) + x\n"
                    + "    n = torch.layer_norm(x, [c], w[i + 12], w[i + 13], 1e-05)\n"
                    // GEGLU: a * gelu(gate) for [a, gate] = proj(n) (see SPLIT_GEGLU_ROWS)
                    + "    if x.size(0) >= " + SPLIT_GEGLU_ROWS + ":\n"
                    + "      f = w[i + 16].size(1)\n"
                    + "      a = torch.linear(n, w[i + 14].narrow(0, 0, f), w[i + 15].narrow(0, 0, f))\n"
                    + "      gate = torch.linear(n, w[i + 14].narrow(0, f, f), w[i + 15].narrow(0, f, f))\n"
                    + "      y = a * torch.gelu(gate)\n"
                    + "    else:\n"
                    + "      g = torch.chunk(torch.linear(n, w[i + 14], w[i + 15]), 2, -1)\n"
                    + "      y = g[0] * torch.gelu(g[1])\n"
                    + "    return torch.linear(y, w[i + 16], w[i + 17]) + x\n"
                    // Transformer2DModel: GroupNorm (eps 1e-6), proj_in, blocks over the H*W tokens, proj_out, + x
                    + "  def transformer(" + self + ", x: Tensor, kv: List[Tensor], w: List[Tensor], i: int, j: int,"
                    + " layers: int, heads: int) -> Tensor:\n"
                    + "    b = x.size(0)\n    c = x.size(1)\n    hh = x.size(2)\n    ww = x.size(3)\n"
                    + "    t = torch.group_norm(x, " + g + ", w[i], w[i + 1], 1e-06)\n"
                    // proj_in and proj_out are linears over the tokens, also where the config has 1x1 convolutions
                    // (SD 1.x; the weight [C', C, 1, 1] flattened to [C', C] is the same map): a GEMM adds its bias
                    // in its epilogue, a convolution with a separate strided broadcast add (folded biases, above)
                    + "    t = torch.linear(t.permute(0, 2, 3, 1).reshape(b, hh * ww, c), w[i + 2]" + flat
                    + ", w[i + 3])\n"
                    + "    for n in range(layers):\n"
                    + "      t = self.block(t, kv[j + 2 * n], kv[j + 2 * n + 1], w, i + 4 + " + stride + " * n, heads)\n"
                    + "    o = i + 4 + " + stride + " * layers\n"
                    // back to NCHW memory, as diffusers does (.contiguous()): a permuted view has channels-last
                    // strides, and the ops after it keep them (SDXL's upsamplings ran their NHWC kernel). Measured
                    // (H200, bench/gpu/script_vs_diffusers.py, CUDA-graph replays, session 8): SD 1.5 batch 32 took
                    // 100.2 ms against diffusers' 95.7 before and 98.7 against 94.2 after, on another host: no
                    // change for SD 1.5 (the remaining gap was the residual sums' order in block(), session 9)
                    + "    t = torch.linear(t, w[o]" + flat + ", w[o + 1]).reshape(b, hh, ww, c).permute(0, 3, 1, 2)"
                    + ".contiguous()\n"
                    + "    return t + x\n";
        }

        private static String py(boolean b) {
            return b ? "True" : "False";
        }

        /** A float literal that parses back to the same double. */
        private static String py(double d) {
            String s = Double.toString(d);
            return s.contains("E") ? s.replace("E", "e") : s;
        }
    }
}
