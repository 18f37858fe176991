package dev.jdiffuse.models.clip;

import dev.jdiffuse.models.nn.ScriptWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The TorchScript source of a whole {@link ClipTextModel} forward, generated from its config, and the order of the
 * weights that the script takes as one list. The script computes what {@link ClipTextTransformer},
 * {@link ClipEncoderLayer} and {@link ClipAttention} compute, op for op: token + position embeddings; per layer
 * {@code x += out_proj(sdpa(q, k, v, causal))} on {@code layer_norm1(x)} and {@code x += fc2(act(fc1(
 * layer_norm2(x))))}; {@code final_layer_norm}; the pooled row at the EOS token; {@code text_projection}.
 *
 * <p>Method {@code forward(ids, w) -> List[Tensor]} of class {@value #CLASS}: ids int64 [B, L] (L up to
 * max_position_embeddings), w the weights in {@link #weightNames()} order; returns {@code [last_hidden_state [B, L, D],
 * pooled [B, D], (text_embeds [B, P] when projected), hidden_states[0..N] [B, L, D] each]}, the N + 1 hidden states
 * being the embeddings and each layer's output before the final norm (transformers' {@code hidden_states}).
 *
 * <p>Attention is {@code torch.scaled_dot_product_attention} with {@code is_causal}: the same as the Java path's
 * additive mask (0 on and below the diagonal, -inf above), and on a GPU it lets the flash kernel run.
 *
 * @param code the {@code code/__torch__.py} text
 * @param weightNames parameter paths ({@code text_model.embeddings.token_embedding.weight}, ...) in list order
 * @param leading outputs before the hidden states: 2, or 3 with {@code text_embeds}
 */
record ClipScriptSource(String code, List<String> weightNames, int leading) {

    static final String CLASS = "ClipTextScript";
    /** transformers' legacy pooling (configs saved before eos_token_id was fixed) takes the argmax of the ids. */
    static final int LEGACY_EOS_ID = 2;
    /** Weights per encoder layer that {@code layer()} reads, in {@link #LAYER_WEIGHTS} order. */
    private static final List<String> LAYER_WEIGHTS = List.of("layer_norm1.weight", "layer_norm1.bias",
            "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
            "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
            "layer_norm2.weight", "layer_norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
            "mlp.fc2.bias");

    /**
     * @param parameterNames the model's parameter paths: the script must take exactly these
     * @throws UnsupportedOperationException when the config has something the generator does not write or the
     *     names differ (the caller then keeps the op-by-op forward)
     */
    static ClipScriptSource of(ClipTextConfig c, Set<String> parameterNames) {
        List<String> names = new ArrayList<>();
        names.add("text_model.embeddings.token_embedding.weight");
        names.add("text_model.embeddings.position_embedding.weight");
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (String n : LAYER_WEIGHTS) {
                names.add("text_model.encoder.layers." + i + "." + n);
            }
        }
        int fin = names.size();
        names.add("text_model.final_layer_norm.weight");
        names.add("text_model.final_layer_norm.bias");
        int proj = names.size();
        if (c.withProjection()) {
            names.add("text_projection.weight");
        }
        ScriptWeights.requireSameNames("CLIP", names, parameterNames);
        // the Java LayerNorm holds eps as a float: the same value here
        String eps = py((double) (float) c.layerNormEps());
        String self = "self: __torch__." + CLASS;
        // dtypes are ScalarType numbers in serialised TorchScript: 3 is int32, as the Java path's argMax input
        String pool = c.eosTokenId() == LEGACY_EOS_ID ? "ids.to(3)" : "torch.eq(ids, " + c.eosTokenId() + ").to(3)";
        String code = "class " + CLASS + "(Module):\n  __parameters__ = []\n  __buffers__ = []\n  training : bool\n"
                // [B, L, H*D] -> [B, H, L, D]
                + "  def by_head(" + self + ", t: Tensor) -> Tensor:\n"
                + "    return t.reshape(t.size(0), t.size(1), " + c.numAttentionHeads() + ", t.size(2) // "
                + c.numAttentionHeads() + ").transpose(1, 2)\n"
                // ClipEncoderLayer: pre-norm causal self-attention and MLP, both residual; [B, L, D] -> [B, L, D]
                + "  def layer(" + self + ", x: Tensor, w: List[Tensor], i: int) -> Tensor:\n"
                + "    b = x.size(0)\n    l = x.size(1)\n    d = x.size(2)\n"
                + "    n = torch.layer_norm(x, [d], w[i], w[i + 1], " + eps + ")\n"
                + "    q = self.by_head(torch.linear(n, w[i + 2], w[i + 3]))\n"
                + "    k = self.by_head(torch.linear(n, w[i + 4], w[i + 5]))\n"
                + "    v = self.by_head(torch.linear(n, w[i + 6], w[i + 7]))\n"
                + "    a = torch.scaled_dot_product_attention(q, k, v, None, 0.0, True)\n"
                + "    x = x + torch.linear(a.transpose(1, 2).reshape(b, l, d), w[i + 8], w[i + 9])\n"
                + "    n = torch.layer_norm(x, [d], w[i + 10], w[i + 11], " + eps + ")\n"
                + "    h = torch.linear(n, w[i + 12], w[i + 13])\n"
                + "    h = " + activation(c.hiddenAct(), "h") + "\n"
                + "    return x + torch.linear(h, w[i + 14], w[i + 15])\n"
                + "  def forward(" + self + ", ids: Tensor, w: List[Tensor]) -> List[Tensor]:\n"
                + "    x = torch.embedding(w[0], ids) + w[1].narrow(0, 0, ids.size(1))\n"
                + "    hidden: List[Tensor] = [x]\n"
                + "    for n in range(" + c.numHiddenLayers() + "):\n"
                + "      x = self.layer(x, w, 2 + " + LAYER_WEIGHTS.size() + " * n)\n"
                + "      hidden.append(x)\n"
                + "    last = torch.layer_norm(x, [x.size(2)], w[" + fin + "], w[" + (fin + 1) + "], " + eps + ")\n"
                // the first EOS (or largest id) of each row, as ClipTextTransformer.pool; gathered exactly
                + "    at = torch.argmax(" + pool + ", 1)\n"
                + "    pooled = torch.gather(last, 1, at.reshape(-1, 1, 1).expand(-1, 1, last.size(2))).squeeze(1)\n"
                + "    out: List[Tensor] = [last, pooled]\n"
                + (c.withProjection() ? "    out.append(torch.linear(pooled, w[" + proj + "]))\n" : "")
                + "    return out + hidden\n";
        return new ClipScriptSource(code, List.copyOf(names), c.withProjection() ? 3 : 2);
    }

    /** {@code hidden_act} applied to the variable {@code h}, as {@link dev.jdiffuse.models.nn.Activations#byName}. */
    private static String activation(String act, String h) {
        return switch (act) {
            case "quick_gelu" -> h + " * torch.sigmoid(" + h + " * 1.702)";
            case "gelu" -> "torch.gelu(" + h + ")";
            case "gelu_pytorch_tanh", "gelu_new", "gelu-approximate" -> "torch.gelu(" + h + ", \"tanh\")";
            case "silu", "swish" -> h + " * torch.sigmoid(" + h + ")";
            case "relu" -> "torch.relu(" + h + ")";
            default -> throw new UnsupportedOperationException("hidden_act " + act);
        };
    }


    /** A float literal that parses back to the same double. */
    private static String py(double d) {
        String s = Double.toString(d);
        return s.contains("E") ? s.replace("E", "e") : s;
    }
}
