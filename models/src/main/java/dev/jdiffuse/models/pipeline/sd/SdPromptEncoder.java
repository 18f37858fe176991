package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.nn.Module;

import java.util.Map;

/**
 * Prompt to UNet conditioning, as diffusers' {@code encode_prompt}: SD1/SD2 use the last hidden state of one CLIP
 * encoder; SDXL concatenates the penultimate hidden states of both encoders along the feature axis and takes the
 * second encoder's projected pooled output. Shapes: context [B, 77, D], pooled [B, P].
 */
final class SdPromptEncoder {

    /** The text context and, for SDXL, the pooled embedding (null otherwise). */
    record Encoded(NDArray context, NDArray pooled) {
    }

    private final ClipTokenizer tokenizer;
    private final ClipTextModel encoder;
    private final ClipTokenizer tokenizer2;
    private final ClipTextModel encoder2;

    SdPromptEncoder(ClipTokenizer tokenizer, ClipTextModel encoder, ClipTokenizer tokenizer2,
            ClipTextModel encoder2) {
        this.tokenizer = tokenizer;
        this.encoder = encoder;
        this.tokenizer2 = tokenizer2;
        this.encoder2 = encoder2;
    }

    /** The text encoders under diffusers' component names ({@code text_encoder}, SDXL's {@code text_encoder_2}). */
    Map<String, Module> encoders() {
        return isSdxl() ? Map.of("text_encoder", encoder, "text_encoder_2", encoder2) : Map.of("text_encoder", encoder);
    }

    boolean isSdxl() {
        return encoder2 != null;
    }

    Encoded encode(NDManager manager, String prompt, int batch) {
        if (!isSdxl()) {
            ClipTextOutput out = encoder.encode(manager, ids(tokenizer, prompt, batch));
            return new Encoded(out.lastHiddenState(), null);
        }
        ClipTextOutput a = encoder.encode(manager, ids(tokenizer, prompt, batch));
        ClipTextOutput b = encoder2.encode(manager, ids(tokenizer2, prompt, batch));
        NDArray context = a.penultimate().concat(b.penultimate(), -1);
        return new Encoded(context, b.textEmbeds());
    }

    private static int[][] ids(ClipTokenizer tok, String prompt, int batch) {
        int[] one = tok.encodePadded(prompt);
        int[][] all = new int[batch][];
        for (int i = 0; i < batch; i++) {
            all[i] = one;
        }
        return all;
    }
}
