package dev.jdiffuse.models.dit;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.SinusoidalTimesteps;
import dev.jdiffuse.models.blocks.TimestepEmbedding;
import dev.jdiffuse.models.nn.Embedding;
import dev.jdiffuse.models.nn.Module;

/**
 * DiT's conditioning (Peebles and Xie 2023, sec. 3.2), diffusers' {@code CombinedTimestepLabelEmbeddings}: the MLP of
 * 256 sinusoidal timestep features ({@code flip_sin_to_cos}, shift 1) plus a learned class embedding whose extra last
 * row ({@code embedding_table} has {@code numClasses + 1} rows) is the null class for classifier-free guidance.
 * Shape: features [B, 256], labels [B] -> [B, D].
 */
public final class CombinedTimestepLabelEmbeddings extends Module {

    /** diffusers' {@code Timesteps(num_channels=256, flip_sin_to_cos=True, downscale_freq_shift=1)}. */
    public static final SinusoidalTimesteps TIME_PROJ = new SinusoidalTimesteps(256, true, 1.0);

    private final TimestepEmbedding timestepEmbedder;
    private final Embedding classTable;

    public CombinedTimestepLabelEmbeddings(int numClasses, long dim) {
        this.timestepEmbedder = child("timestep_embedder", new TimestepEmbedding(TIME_PROJ.dim(), dim));
        this.classTable = child("class_embedder", new LabelEmbedding(numClasses, dim)).table;
    }

    /**
     * @param timeFeatures sinusoidal features [B, 256] already in the compute dtype
     * @param labels int64 class ids [B] in the activations' manager
     */
    public NDArray forward(NDArray timeFeatures, NDArray labels) {
        return timestepEmbedder.forward(timeFeatures).add(classTable.forward(labels));
    }

    /** diffusers' {@code LabelEmbedding} with class dropout: {@code embedding_table} of {@code numClasses + 1} rows. */
    private static final class LabelEmbedding extends Module {
        private final Embedding table;

        LabelEmbedding(int numClasses, long dim) {
            this.table = child("embedding_table", new Embedding(numClasses + 1L, dim));
        }
    }
}
