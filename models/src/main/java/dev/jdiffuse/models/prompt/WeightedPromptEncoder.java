package dev.jdiffuse.models.prompt;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.textinv.EmbeddingSet;

import java.util.ArrayList;
import java.util.List;

/**
 * A1111's weighted, chunked prompt encoding ({@code FrozenCLIPEmbedderWithCustomWordsBase.forward},
 * {@code process_tokens}, {@code sd_emphasis.EmphasisOriginal}) for one CLIP text encoder:
 * <ol>
 *   <li>{@link PromptChunker} turns the prompt into k chunks of 77 ids and weights;</li>
 *   <li>each chunk is encoded on its own and its {@link ClipLayer} hidden state z [B, 77, D] taken;</li>
 *   <li>{@link Emphasis#ORIGINAL}: {@code m0 = mean(z); z = z * w[None, :, None]; z = z * (m0 / mean(z))}, the mean
 *       over the whole chunk tensor; {@link Emphasis#NO_NORM} skips the rescale;</li>
 *   <li>the chunks are concatenated along the sequence: [B, 77k, D]; pooled outputs come from chunk 0.</li>
 * </ol>
 * A chunk whose weights are all 1 is left as the encoder gave it (A1111's rescale is then exactly 1), so a short
 * unweighted prompt with {@code ClipLayer.clipSkip(1)} equals {@code ClipTextModel.encode(encodePadded(prompt))}.
 */
public final class WeightedPromptEncoder {

    private final ClipTextModel model;
    private final PromptChunker chunker;
    private final ClipLayer layer;
    private final Emphasis emphasis;

    public WeightedPromptEncoder(ClipTextModel model, PromptChunker chunker, ClipLayer layer, Emphasis emphasis) {
        this.model = model;
        this.chunker = chunker;
        this.layer = layer;
        this.emphasis = emphasis;
    }

    /** With {@link PromptChunker#of(ClipTokenizer)} and A1111's default emphasis. */
    public static WeightedPromptEncoder of(ClipTokenizer tokenizer, ClipTextModel model, ClipLayer layer) {
        return new WeightedPromptEncoder(model, PromptChunker.of(tokenizer), layer, Emphasis.ORIGINAL);
    }

    /** The chunks {@link #encode(NDManager, String, int)} would encode. */
    public List<PromptChunk> chunks(String prompt) {
        return chunker.chunk(prompt, emphasis);
    }

    /** The chunks with {@code embeddings} in place of their names. */
    public List<PromptChunk> chunks(String prompt, EmbeddingSet embeddings) {
        return chunker.chunk(prompt, emphasis, embeddings);
    }

    /**
     * @param manager owns every result (a per-request manager)
     * @param batch rows of the result, all the same prompt
     */
    public WeightedEncoding encode(NDManager manager, String prompt, int batch) {
        return encode(manager, chunks(prompt), batch);
    }

    /**
     * With textual-inversion {@code embeddings}: their vectors (of this encoder's width) replace the token
     * embeddings where the prompt names them, and are weighted like any token.
     *
     * @throws dev.jdiffuse.models.textinv.TextualInversionException naming an embedding the prompt uses that has no
     *     vectors of this encoder's width
     */
    public WeightedEncoding encode(NDManager manager, String prompt, int batch, EmbeddingSet embeddings) {
        return encode(manager, chunks(prompt, embeddings), batch);
    }

    /** Encodes chunks from {@link #chunks(String)} (or another chunker over the same tokenizer). */
    public WeightedEncoding encode(NDManager manager, List<PromptChunk> chunks, int batch) {
        if (chunks.isEmpty()) {
            throw new IllegalArgumentException("no chunks");
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1: " + batch);
        }
        List<NDArray> contexts = new ArrayList<>();
        NDArray pooled = null;
        NDArray textEmbeds = null;
        for (int c = 0; c < chunks.size(); c++) {
            PromptChunk chunk = chunks.get(c);
            int[][] ids = new int[batch][];
            for (int b = 0; b < batch; b++) {
                ids[b] = chunk.tokens();
            }
            ClipTextOutput out = chunk.fixes().isEmpty() ? model.encode(manager, ids)
                    : model.encode(manager, ids, replacedRows(chunk, model.config().hiddenSize()));
            contexts.add(weighted(layer.select(model, out), chunk.weights(), emphasis));
            if (c == 0) {
                pooled = out.pooled();
                textEmbeds = out.textEmbeds();
            }
        }
        NDArray context = contexts.size() == 1 ? contexts.get(0) : NDArrays.concat(new NDList(contexts), 1);
        return new WeightedEncoding(context, pooled, textEmbeds, chunks.size());
    }

    /**
     * A1111's {@code EmbeddingsWithFixes}: per window position, the embedding vector that replaces the token
     * embedding there, or null.
     */
    static float[][] replacedRows(PromptChunk chunk, int width) {
        float[][] rows = new float[chunk.tokens().length][];
        for (PromptChunk.Fix fix : chunk.fixes()) {
            float[][] vectors = fix.embedding().forWidth(width);
            for (int i = 0; i < vectors.length; i++) {
                rows[fix.position() + i] = vectors[i];
            }
        }
        return rows;
    }

    /**
     * {@code z} [B, L, D] with per-position weights {@code w} [L] applied as {@code emphasis} says. The rescale
     * divides by the weighted mean, so it is ill-conditioned when the hidden states have a mean near 0 (as A1111's).
     */
    static NDArray weighted(NDArray z, double[] w, Emphasis emphasis) {
        if (emphasis == Emphasis.NONE || allOnes(w)) {
            return z;
        }
        float[] w32 = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            w32[i] = (float) w[i]; // torch.asarray(multipliers) is float32
        }
        NDArray multipliers = HostCopies.onDevice(z.getManager(), z.getDevice(),
                m -> m.create(w32, new Shape(1, w.length, 1))).toType(z.getDataType(), false);
        NDArray scaled = z.mul(multipliers);
        if (emphasis == Emphasis.NO_NORM) {
            return scaled;
        }
        NDArray ratio = z.mean().div(scaled.mean());
        return scaled.mul(ratio);
    }

    private static boolean allOnes(double[] w) {
        for (double v : w) {
            if (v != 1.0) {
                return false;
            }
        }
        return true;
    }

    /**
     * A1111's optional {@code pad_cond_uncond}: appends copies of {@code emptyChunk} [B, 77, D] (the empty prompt's
     * encoding) to {@code context} [B, 77k, D] until it has {@code chunks} chunks, so a prompt and a negative prompt
     * of different lengths can share one batched UNet call. A1111's default is instead to run the two UNet passes
     * separately.
     */
    public static NDArray padWithEmpty(NDArray context, NDArray emptyChunk, int chunks) {
        long perChunk = emptyChunk.getShape().get(1);
        long have = context.getShape().get(1) / perChunk;
        if (have >= chunks) {
            return context;
        }
        NDList parts = new NDList(context);
        for (long i = have; i < chunks; i++) {
            parts.add(emptyChunk);
        }
        return NDArrays.concat(parts, 1);
    }
}
