package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Attention;
import dev.jdiffuse.models.nn.GroupNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;

/**
 * The spatial self-attention of the VAE's mid block (diffusers {@code Attention} built by {@code UNetMidBlock2D}
 * with {@code norm_num_groups}, {@code residual_connection=True}, {@code _from_deprecated_attn_block=True}):
 * {@code out = (x + to_out(attn(to_q(n), to_k(n), to_v(n)))) / rescale} with {@code n = group_norm(x)} flattened to
 * tokens. Shapes: x [B, C, H, W] -> [B, C, H, W]; the H*W positions attend to each other.
 */
final class VaeAttention extends Module {

    private final GroupNorm groupNorm;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final int heads;
    private final float rescaleOutputFactor;

    /**
     * @param headDim diffusers passes {@code attention_head_dim = channels}, i.e. a single head
     */
    VaeAttention(long channels, long headDim, int groups, double eps, double rescaleOutputFactor) {
        this.groupNorm = child("group_norm", new GroupNorm(groups, channels, eps));
        this.toQ = child("to_q", new Linear(channels, channels, true));
        this.toK = child("to_k", new Linear(channels, channels, true));
        this.toV = child("to_v", new Linear(channels, channels, true));
        ModuleList<Linear> out = child("to_out", new ModuleList<>());
        this.toOut = out.add(new Linear(channels, channels, true));
        this.heads = (int) (channels / headDim);
        this.rescaleOutputFactor = (float) rescaleOutputFactor;
    }

    NDArray forward(NDArray x) {
        Shape s = x.getShape();
        long b = s.get(0);
        long c = s.get(1);
        long h = s.get(2);
        long w = s.get(3);
        NDArray tokens = groupNorm.forward(x).reshape(b, c, h * w).transpose(0, 2, 1);
        NDArray attn = Attention.scaledDotProduct(toQ.forward(tokens), toK.forward(tokens), toV.forward(tokens), heads,
                true, null);
        NDArray out = toOut.forward(attn).transpose(0, 2, 1).reshape(b, c, h, w).add(x);
        return rescaleOutputFactor == 1f ? out : div(out, rescaleOutputFactor);
    }
}
