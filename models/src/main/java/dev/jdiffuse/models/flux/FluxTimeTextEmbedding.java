package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.TimestepEmbedding;
import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.sd3.CombinedTimestepTextProjEmbeddings;
import dev.jdiffuse.models.transformer.DiffusersWeights;

/**
 * FLUX's conditioning vector, diffusers' {@code CombinedTimestepGuidanceTextProjEmbeddings} (guidance-distilled
 * models, FLUX.1-dev) or {@code CombinedTimestepTextProjEmbeddings} (schnell):
 * {@code timestep_embedder(sinusoid_256(t)) [+ guidance_embedder(sinusoid_256(g))] + text_embedder(pooled)}, the
 * sinusoid with {@code flip_sin_to_cos} and shift 0, summed in that order. Shapes: t, g [B], pooled [B, P] -> [B, D].
 */
public final class FluxTimeTextEmbedding extends Module {

    private final TimestepEmbedding timestepEmbedder;
    private final TimestepEmbedding guidanceEmbedder;
    private final TimestepEmbedding textEmbedder;

    public FluxTimeTextEmbedding(long dim, long pooledProjectionDim, boolean guidance) {
        int features = CombinedTimestepTextProjEmbeddings.TIME_PROJ.dim();
        this.timestepEmbedder = child("timestep_embedder", new TimestepEmbedding(features, dim));
        this.guidanceEmbedder = guidance ? child("guidance_embedder", new TimestepEmbedding(features, dim)) : null;
        this.textEmbedder = child("text_embedder", new TimestepEmbedding(pooledProjectionDim, dim, dim, "silu"));
    }

    public boolean hasGuidance() {
        return guidanceEmbedder != null;
    }

    /**
     * @param timesteps one value per row, already on the 0..1000 scale
     * @param guidance one value per row (the distilled guidance scale x 1000), read only when the model embeds it
     * @param pooled [B, P] in the compute dtype; the sinusoids are computed in its manager
     */
    public NDArray forward(double[] timesteps, double[] guidance, NDArray pooled) {
        NDArray emb = timestepEmbedder.forward(sinusoid(timesteps, pooled));
        if (guidanceEmbedder != null) {
            emb = emb.add(guidanceEmbedder.forward(sinusoid(guidance, pooled)));
        }
        return emb.add(textEmbedder.forward(pooled));
    }

    /** The sinusoid of {@code values}, made on the host and copied without waiting for the device. */
    private static NDArray sinusoid(double[] values, NDArray like) {
        return DiffusersWeights.as(HostCopies.onDeviceOf(like.getManager(),
                m -> CombinedTimestepTextProjEmbeddings.TIME_PROJ.embed(m, values)), like.getDataType());
    }
}
