package dev.jdiffuse.models.pipeline.sd;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;

/**
 * SDXL's micro-conditioning, diffusers' {@code _get_add_time_ids}: one row of ids per image, each id turned into
 * {@code addition_time_embed_dim} sinusoidal features by the UNet and concatenated after the pooled text embedding.
 * <ul>
 *   <li>{@link #BASE} (SDXL base, Turbo): original (H, W) + crop (top, left) + target (H, W), 6 ids, the same for
 *       both halves of guidance;</li>
 *   <li>{@link #REFINER} ({@code requires_aesthetics_score}): original (H, W) + crop (top, left) + (aesthetic score,),
 *       5 ids; the unconditional half takes the negative aesthetic score.</li>
 * </ul>
 * Sizes are the request's (diffusers' defaults: original and target size = the generated size, crop (0, 0)).
 */
enum SdxlTimeIds {
    BASE(6),
    REFINER(5);

    private final int count;

    SdxlTimeIds(int count) {
        this.count = count;
    }

    int count() {
        return count;
    }

    /**
     * The layout a text_time UNet takes, from its {@code add_embedding} input: {@code
     * projection_class_embeddings_input_dim = pooled width + n x addition_time_embed_dim}, n = 6 (base) or 5
     * (refiner), the check diffusers makes in {@code _get_add_time_ids} (released: 2816 = 1280 + 6 x 256 and
     * 2560 = 1280 + 5 x 256, how ComfyUI tells {@code SDXLRefiner} from {@code SDXL}).
     *
     * @param pooledWidth the second text encoder's projection width ({@code text_embeds})
     */
    static SdxlTimeIds of(UNet2DConditionConfig unet, int pooledWidth) {
        int ids = unet.projectionClassEmbeddingsInputDim() - pooledWidth;
        int dim = unet.additionTimeEmbedDim();
        for (SdxlTimeIds t : values()) {
            if (ids == t.count * dim) {
                return t;
            }
        }
        throw new IllegalArgumentException("the UNet's add_embedding takes " + unet.projectionClassEmbeddingsInputDim()
                + " features, which is neither the pooled text width " + pooledWidth + " plus 6 x " + dim
                + " (SDXL base) nor plus 5 x " + dim + " (SDXL refiner)");
    }

    /** One image's ids for the conditional ({@code negative} false) or unconditional half. */
    float[] row(GenerationRequest r, boolean negative) {
        float h = r.height();
        float w = r.width();
        if (this == BASE) {
            return new float[] {h, w, 0, 0, h, w};
        }
        GenerationRequest.Aesthetics a = r.aesthetics();
        return new float[] {h, w, 0, 0, (float) (negative ? a.negativeScore() : a.score())};
    }

    /** [B, count] float32 on {@code device}, every row {@link #row}. */
    NDArray ids(NDManager job, Device device, GenerationRequest r, boolean negative) {
        float[] row = row(r, negative);
        float[] all = new float[r.batchSize() * count];
        for (int b = 0; b < r.batchSize(); b++) {
            System.arraycopy(row, 0, all, b * count, count);
        }
        return HostCopies.onDevice(job, device, m -> m.create(all, new Shape(r.batchSize(), count)));
    }
}
