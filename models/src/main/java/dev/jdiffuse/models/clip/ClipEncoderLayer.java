package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/**
 * transformers' {@code CLIPEncoderLayer}, a pre-norm transformer block:
 * {@code x += self_attn(layer_norm1(x)); x += fc2(act(fc1(layer_norm2(x))))}; [B, L, D] -> [B, L, D].
 */
final class ClipEncoderLayer extends Module {

    private final ClipAttention selfAttn;
    private final LayerNorm norm1;
    private final Mlp mlp;
    private final LayerNorm norm2;

    ClipEncoderLayer(ClipTextConfig c) {
        this.selfAttn = child("self_attn", new ClipAttention(c.hiddenSize(), c.numAttentionHeads()));
        this.norm1 = child("layer_norm1", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
        this.mlp = child("mlp", new Mlp(c));
        this.norm2 = child("layer_norm2", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
    }

    NDArray forward(NDArray x, NDArray causalMask) {
        NDArray h = x.add(selfAttn.forward(norm1.forward(x), causalMask));
        return h.add(mlp.forward(norm2.forward(h)));
    }

    /** transformers' {@code CLIPMLP}: fc1 -> hidden_act -> fc2. */
    static final class Mlp extends Module {

        private final String act;
        private final Linear fc1;
        private final Linear fc2;

        Mlp(ClipTextConfig c) {
            this.act = c.hiddenAct();
            this.fc1 = child("fc1", new Linear(c.hiddenSize(), c.intermediateSize(), true));
            this.fc2 = child("fc2", new Linear(c.intermediateSize(), c.hiddenSize(), true));
        }

        NDArray forward(NDArray x) {
            return fc2.forward(Activations.byName(act, fc1.forward(x)));
        }
    }
}
