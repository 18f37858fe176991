package dev.jdiffuse.models.pipeline.flux;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.t5.T5EncoderModel;
import dev.jdiffuse.models.t5.T5Tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * Prompt to FLUX conditioning, as diffusers' {@code FluxPipeline.encode_prompt}:
 * <ol>
 * <li>CLIP-L ({@code text_encoder}, a {@code CLIPTextModel}): only the pooled output (the final-norm hidden state at
 * the EOS token, {@code pooler_output}) [B, 768], the prompt padded to the tokenizer's {@code model_max_length};</li>
 * <li>T5 v1.1 XXL ({@code text_encoder_2}): the last hidden state of the prompt padded (and cut) to
 * {@code maxSequenceLength} tokens with {@code </s>} appended, no attention mask, [B, maxSequenceLength, 4096]: the
 * context the transformer attends to.</li>
 * </ol>
 */
final class FluxPromptEncoder {

    /** The T5 context [B, L, d_model] and the pooled CLIP embedding [B, hidden]. */
    record Encoded(NDArray context, NDArray pooled) {
    }

    /** What an encoding depends on besides the weights. */
    private record Key(String prompt, int batch, int maxSequenceLength) {
    }

    private final ClipTokenizer clipTokenizer;
    private final ClipTextModel clip;
    private final T5Tokenizer t5Tokenizer;
    private final T5EncoderModel t5;
    /** Recent prompts' encodings: a repeated prompt (true CFG's negative one too) costs a copy, not T5-XXL's pass. */
    private final PromptEmbeddingCache<Encoded> cache;

    FluxPromptEncoder(ClipTokenizer clipTokenizer, ClipTextModel clip, T5Tokenizer t5Tokenizer, T5EncoderModel t5) {
        this.clipTokenizer = clipTokenizer;
        this.clip = clip;
        this.t5Tokenizer = t5Tokenizer;
        this.t5 = t5;
        this.cache = new PromptEmbeddingCache<>(List.of(clip, t5),
                PromptEmbeddingCache.contextAndPooled(Encoded::context, Encoded::pooled, Encoded::new));
    }

    /** The CLIP-L encoder (LoRAs adapt it). */
    ClipTextModel clip() {
        return clip;
    }

    /** The recent prompts' encodings. */
    PromptEmbeddingCache<Encoded> cache() {
        return cache;
    }

    Encoded encode(NDManager manager, String prompt, int batch, int maxSequenceLength) {
        return cache.get(manager, new Key(prompt, batch, maxSequenceLength),
                () -> encodeUncached(manager, prompt, batch, maxSequenceLength));
    }

    private Encoded encodeUncached(NDManager manager, String prompt, int batch, int maxSequenceLength) {
        int[][] clipIds = new int[batch][];
        Arrays.fill(clipIds, clipTokenizer.encodePadded(prompt, clipTokenizer.specialTokens().modelMaxLength()));
        NDArray pooled = clip.encode(manager, clipIds).pooled();
        int[][] t5Ids = new int[batch][];
        Arrays.fill(t5Ids, t5Tokenizer.encodePadded(prompt, maxSequenceLength));
        // where T5 lives apart (LoadOptions.t5Device), its context joins CLIP's (the transformer's) device and dtype
        NDArray context = HostCopies.toDevice(t5.encode(manager, t5Ids), pooled.getDevice())
                .toType(pooled.getDataType(), false);
        return new Encoded(context, pooled);
    }
}
