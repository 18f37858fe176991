package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.EmbeddingCache;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;
import dev.jdiffuse.models.clip.ClipTokenizer;

/**
 * Prompt to UNet conditioning, as diffusers' {@code encode_prompt}: SD1/SD2 use the last hidden state of one CLIP
 * encoder; SDXL concatenates the penultimate hidden states of both encoders along the feature axis and takes the
 * second encoder's projected pooled output. Shapes: context [B, 77, D], pooled [B, P]. Outputs are kept per
 * (prompt, batch size) in a small {@link EmbeddingCache}, so a repeated prompt (the empty negative prompt above all)
 * is not encoded again.
 */
final class SdPromptEncoder {

    /** The text context and, for SDXL, the pooled embedding (null otherwise). */
    record Encoded(NDArray context, NDArray pooled) {
    }

    private final ClipTokenizer tokenizer;
    private final ClipTextModel encoder;
    private final ClipTokenizer tokenizer2;
    private final ClipTextModel encoder2;
    /** Entries live under the text encoder's weights' manager, so they go when the model is closed. */
    private final EmbeddingCache cache;

    /** Prompts whose embeddings are kept (a few MB each at most: [B, 77, 2048] floats for SDXL). */
    static final int CACHED_PROMPTS = 32;

    /** {@link #CACHED_PROMPTS}, or the system property {@code jdiffuse.prompt.cache} (0: off, for timings). */
    private static int cachedPrompts() {
        return Integer.getInteger("jdiffuse.prompt.cache", CACHED_PROMPTS);
    }

    private record Key(String prompt, int batch) {
    }

    SdPromptEncoder(ClipTokenizer tokenizer, ClipTextModel encoder, ClipTokenizer tokenizer2,
            ClipTextModel encoder2) {
        this.tokenizer = tokenizer;
        this.encoder = encoder;
        this.tokenizer2 = tokenizer2;
        this.encoder2 = encoder2;
        this.cache = new EmbeddingCache(cachedPrompts(),
                () -> encoder.namedParameters().values().iterator().next().get().getManager());
    }

    boolean isSdxl() {
        return encoder2 != null;
    }

    Encoded encode(NDManager manager, String prompt, int batch) {
        NDList out = cache.get(new Key(prompt, batch), manager, m -> {
            Encoded e = encodeUncached(m, prompt, batch);
            NDList list = new NDList(2);
            list.add(e.context());
            list.add(e.pooled());
            return list;
        });
        return new Encoded(out.get(0), out.get(1));
    }

    private Encoded encodeUncached(NDManager manager, String prompt, int batch) {
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
