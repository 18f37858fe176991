package dev.jdiffuse.models.t5;

import dev.jdiffuse.models.nn.StateDict;

import java.util.List;

/**
 * Where T5 encoder weights sit in the files people have: a transformers folder ({@code text_encoder_3/}) and a
 * standalone {@code t5xxl_*.safetensors} use transformers' names as they are ({@code shared.weight},
 * {@code encoder.block.N...}); SD3/3.5 single files that bundle their text encoders keep them under
 * {@code text_encoders.t5xxl.transformer.}.
 */
public final class T5Keys {

    /** Prefixes under which single-file checkpoints keep a transformers-named T5 encoder. */
    public static final List<String> SINGLE_FILE_PREFIXES = List.of("text_encoders.t5xxl.transformer.");

    private T5Keys() {
    }

    /** A single-file key in transformers' naming, or null when it is not the T5 encoder's. */
    public static String fromSingleFile(String key) {
        for (String prefix : SINGLE_FILE_PREFIXES) {
            if (key.startsWith(prefix)) {
                return key.substring(prefix.length());
            }
        }
        return null;
    }

    /** Whether a checkpoint (already in transformers' naming) holds a T5 encoder. */
    public static boolean present(StateDict weights) {
        return weights.keys().contains("shared.weight")
                && weights.keys().contains("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    }
}
