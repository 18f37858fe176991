package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.SinusoidalTimesteps;
import dev.jdiffuse.models.blocks.TimestepEmbedding;
import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.transformer.DiffusersWeights;

/**
 * SD3's global conditioning vector (Esser et al. 2024, fig. 2a), diffusers' {@code CombinedTimestepTextProjEmbeddings}:
 * {@code timestep_embedder(sinusoid_256(t)) + text_embedder(pooled)}, the sinusoid with {@code flip_sin_to_cos} and
 * shift 0, the text projection a SiLU MLP ({@code PixArtAlphaTextProjection}). Shapes: t [B], pooled [B, P] -> [B, D].
 */
public final class CombinedTimestepTextProjEmbeddings extends Module {

    /** diffusers' {@code Timesteps(num_channels=256, flip_sin_to_cos=True, downscale_freq_shift=0)}. */
    public static final SinusoidalTimesteps TIME_PROJ = new SinusoidalTimesteps(256, true, 0.0);

    private final TimestepEmbedding timestepEmbedder;
    private final TimestepEmbedding textEmbedder;

    public CombinedTimestepTextProjEmbeddings(long dim, long pooledProjectionDim) {
        this.timestepEmbedder = child("timestep_embedder", new TimestepEmbedding(TIME_PROJ.dim(), dim));
        this.textEmbedder = child("text_embedder", new TimestepEmbedding(pooledProjectionDim, dim, dim, "silu"));
    }

    /** @param pooled [B, P] in the compute dtype; the timestep features are computed in its manager. */
    public NDArray forward(double[] timesteps, NDArray pooled) {
        // made on the host, copied without waiting for the device (HostCopies)
        NDArray t = DiffusersWeights.as(HostCopies.onDeviceOf(pooled.getManager(), m -> TIME_PROJ.embed(m, timesteps)),
                pooled.getDataType());
        return timestepEmbedder.forward(t).add(textEmbedder.forward(pooled));
    }
}
