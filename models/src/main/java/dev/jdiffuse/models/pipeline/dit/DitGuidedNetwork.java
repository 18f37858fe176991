package dev.jdiffuse.models.pipeline.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * DiT as the samplers' {@link Network}, with classifier-free guidance done the way diffusers' {@code DiTPipeline} does
 * it on the raw model output (Peebles and Xie 2023, sec. 3.2; Ho and Salimans 2022):
 * <ol>
 * <li>with scale {@code s > 1} the sample is run twice in one batch, {@code [x; x]} with labels
 * {@code [y; null]} (conditional rows FIRST, null class = {@code num_embeds_ada_norm});</li>
 * <li>of the output [2B, out_channels, h, w] only the first {@code C = in_channels} channels (the noise prediction;
 * with learned sigma the other C are the variance interpolation, which diffusers leaves unguided and its schedulers
 * discard) are guided: {@code eps = eps_u + s (eps_c - eps_u)} with {@code (eps_c, eps_u)} the two batch halves;</li>
 * <li>the first C channels are the model output the scheduler steps with.</li>
 * </ol>
 * diffusers then keeps stepping both (identical) halves and decodes the first; here the sampler state is [B] only,
 * which is the same sample for deterministic samplers (stochastic ones draw [B] noise where diffusers draws [2B], so
 * their noise streams differ from diffusers'). Output float32 [B, C, h, w] in {@code x}'s manager.
 *
 * <p>Note: the original DiT code ({@code facebookresearch/DiT}, {@code models.py} {@code forward_with_cfg}) guides only
 * the first 3 channels "for exact reproducibility reasons" (the 4th noise channel stays conditional); diffusers'
 * {@code pipeline_dit.py} guides all {@code in_channels}, and this follows diffusers.
 */
final class DitGuidedNetwork implements Network {

    private final DiTTransformer2DModel transformer;
    private final double scale;
    private final int channels;

    DitGuidedNetwork(DiTTransformer2DModel transformer, double guidanceScale) {
        this.transformer = transformer;
        this.scale = guidanceScale;
        this.channels = transformer.config().inChannels();
    }

    @Override
    public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
        DitConditioning c = (DitConditioning) conditioning;
        if (scale <= 1.0) {
            return prediction(transformer.forward(x, new double[] {timestep}, c.labels()), channels);
        }
        DitConditioning both = (DitConditioning) c.concatBatch(
                DitConditioning.repeated(transformer.config().numEmbedsAdaNorm(), c.batchSize()));
        NDArray out = transformer.forward(x.concat(x, 0), new double[] {timestep}, both.labels());
        return guide(out, channels, scale);
    }

    /**
     * diffusers' DiT guidance: {@code output} [2B, K, h, w] with conditional rows first; returns
     * {@code eps_u + scale (eps_c - eps_u)} over the first {@code channels} channels, [B, channels, h, w] float32.
     */
    static NDArray guide(NDArray output, int channels, double scale) {
        NDList halves = prediction(output, channels).split(2, 0);
        NDArray cond = halves.get(0);
        NDArray uncond = halves.get(1);
        return uncond.add(cond.sub(uncond).mul(scale));
    }

    /** The first {@code channels} channels of [B, K, h, w] (the noise prediction of a learned-sigma model), float32. */
    static NDArray prediction(NDArray output, int channels) {
        NDArray eps = output.getShape().get(1) == channels ? output : output.get(":, 0:" + channels);
        return eps.getDataType() == DataType.FLOAT32 ? eps : eps.toType(DataType.FLOAT32, false);
    }
}
