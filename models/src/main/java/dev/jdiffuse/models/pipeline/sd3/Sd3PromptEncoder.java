package dev.jdiffuse.models.pipeline.sd3;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.t5.T5EncoderModel;
import dev.jdiffuse.models.t5.T5Tokenizer;

import java.util.Arrays;

/**
 * Prompt to SD3 conditioning, as diffusers' {@code StableDiffusion3Pipeline.encode_prompt}:
 * <ol>
 * <li>CLIP-L and CLIP-G: penultimate hidden states ({@code hidden_states[-2]}) [B, 77, D1] and [B, 77, D2],
 * concatenated along features to [B, 77, D1 + D2]; pooled = concat of both {@code text_embeds} [B, P1 + P2];</li>
 * <li>T5 part ({@code _get_t5_prompt_embeds}): the T5 encoder's last hidden state of the prompt padded (and cut) to
 * {@code maxSequenceLength} tokens with {@code </s>} appended, no attention mask, [B, maxSequenceLength, d_model]
 * with {@code d_model = joint_attention_dim}; zeros of that shape when the folder has no {@code text_encoder_3}
 * (diffusers does the same). The empty negative prompt is T5-encoded too, not zeroed;</li>
 * <li>{@code F.pad(clip, (0, joint - (D1 + D2)))}: zero-padded to {@code joint_attention_dim} features, or truncated
 * to the first {@code joint_attention_dim} when the CLIP context is wider (a negative pad crops);</li>
 * <li>context = concat(clip, t5) along the sequence: [B, 77 + maxSequenceLength, joint_attention_dim].</li>
 * </ol>
 * Both encoders use the first tokenizer's {@code model_max_length} ({@code tokenizer_max_length}), as diffusers does.
 */
final class Sd3PromptEncoder {

    /** The joint context [B, L, joint] and the pooled embedding [B, P]. */
    record Encoded(NDArray context, NDArray pooled) {
    }

    /** The third text encoder of SD3/3.5 and its tokenizer ({@code t5} is null when the folder has none). */
    record T5Text(T5Tokenizer tokenizer, T5EncoderModel encoder) {
    }

    /** What an encoding depends on besides the weights. */
    private record Key(String prompt, int batch, int maxSequenceLength) {
    }

    private final ClipTokenizer tokenizer;
    private final ClipTextModel encoder;
    private final ClipTokenizer tokenizer2;
    private final ClipTextModel encoder2;
    private final int jointAttentionDim;
    private final T5Text t5;
    /** Recent prompts' encodings: a repeated prompt costs a copy instead of three encoders (T5-XXL among them). */
    private final PromptEmbeddingCache<Encoded> cache;

    Sd3PromptEncoder(ClipTokenizer tokenizer, ClipTextModel encoder, ClipTokenizer tokenizer2, ClipTextModel encoder2,
            int jointAttentionDim, T5Text t5) {
        this.tokenizer = tokenizer;
        this.encoder = encoder;
        this.tokenizer2 = tokenizer2;
        this.encoder2 = encoder2;
        this.jointAttentionDim = jointAttentionDim;
        this.t5 = t5;
        this.cache = new PromptEmbeddingCache<>(Arrays.asList(encoder, encoder2, t5 == null ? null : t5.encoder()),
                PromptEmbeddingCache.contextAndPooled(Encoded::context, Encoded::pooled, Encoded::new));
    }

    /** The recent prompts' encodings. */
    PromptEmbeddingCache<Encoded> cache() {
        return cache;
    }

    /** Width of the pooled embedding: both encoders' projection widths. */
    int pooledWidth() {
        return encoder.config().projectionDim() + encoder2.config().projectionDim();
    }

    Encoded encode(NDManager manager, String prompt, int batch, int maxSequenceLength) {
        return cache.get(manager, new Key(prompt, batch, maxSequenceLength),
                () -> encodeUncached(manager, prompt, batch, maxSequenceLength));
    }

    private Encoded encodeUncached(NDManager manager, String prompt, int batch, int maxSequenceLength) {
        int maxLength = tokenizer.specialTokens().modelMaxLength();
        ClipTextOutput a = encoder.encode(manager, ids(tokenizer, prompt, batch, maxLength));
        ClipTextOutput b = encoder2.encode(manager, ids(tokenizer2, prompt, batch, maxLength));
        NDArray clip = fitWidth(a.penultimate().concat(b.penultimate(), -1), jointAttentionDim);
        NDArray t5Context;
        if (t5 == null) {
            t5Context = clip.getManager().zeros(new Shape(batch, maxSequenceLength, jointAttentionDim),
                    clip.getDataType());
        } else {
            int[][] ids = new int[batch][];
            Arrays.fill(ids, t5.tokenizer().encodePadded(prompt, maxSequenceLength));
            // where T5 lives apart (LoadOptions.t5Device), its context joins the CLIP one's device and dtype
            t5Context = HostCopies.toDevice(t5.encoder().encode(manager, ids), clip.getDevice())
                    .toType(clip.getDataType(), false);
        }
        return new Encoded(clip.concat(t5Context, 1), a.textEmbeds().concat(b.textEmbeds(), -1));
    }

    /** {@code F.pad(x, (0, width - D))} on the last axis of [B, L, D]: zeros appended, or cropped when negative. */
    static NDArray fitWidth(NDArray x, int width) {
        Shape s = x.getShape();
        long d = s.get(2);
        if (d == width) {
            return x;
        }
        if (d > width) {
            return x.get(":, :, 0:" + width);
        }
        return x.concat(x.getManager().zeros(new Shape(s.get(0), s.get(1), width - d), x.getDataType()), 2);
    }

    private static int[][] ids(ClipTokenizer tok, String prompt, int batch, int maxLength) {
        int[] one = tok.encodePadded(prompt, maxLength);
        int[][] all = new int[batch][];
        for (int i = 0; i < batch; i++) {
            all[i] = one;
        }
        return all;
    }
}
