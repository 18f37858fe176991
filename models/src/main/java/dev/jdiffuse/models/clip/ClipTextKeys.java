package dev.jdiffuse.models.clip;

import java.util.List;

/**
 * The key table from checkpoint names to transformers' {@code CLIPTextModel[WithProjection]} names
 * ({@code text_model.embeddings.token_embedding.weight}, ..., {@code text_projection.weight}), in one place.
 * <ul>
 *   <li>transformers folders: older saves prefix everything with {@code text_model.}; transformers 5 saves a plain
 *       {@code CLIPTextModel} without it ({@code embeddings.*}, {@code encoder.*}, {@code final_layer_norm.*});</li>
 *   <li>original single-file checkpoints (CompVis/LDM, SGM): the text encoder is the Hugging Face model under
 *       {@code cond_stage_model.transformer.} (SD1) or {@code conditioner.embedders.0.transformer.} (SDXL's first
 *       encoder), again with or without {@code text_model.}. OpenCLIP layouts ({@code cond_stage_model.model.*}, SD2;
 *       {@code conditioner.embedders.1.model.*}, SDXL's second encoder) are a different parameterisation (fused
 *       in_proj), mapped by {@link OpenClipTextKeys}.</li>
 * </ul>
 */
public final class ClipTextKeys {

    /** The saved {@code position_ids} buffer of older checkpoints (an arange, not a parameter). */
    public static final String POSITION_IDS = "text_model.embeddings.position_ids";

    /** Where original single-file checkpoints keep a Hugging Face CLIP text model. */
    public static final List<String> SINGLE_FILE_PREFIXES = List.of("cond_stage_model.transformer.",
            "conditioner.embedders.0.transformer.");

    private static final List<String> TEXT_MODEL_CHILDREN = List.of("embeddings.", "encoder.", "final_layer_norm.");

    private ClipTextKeys() {
    }

    /** A key of a transformers text-encoder file in transformers' full naming. */
    public static String fromTransformers(String key) {
        for (String child : TEXT_MODEL_CHILDREN) {
            if (key.startsWith(child)) {
                return "text_model." + key;
            }
        }
        return key;
    }

    /** A single-file checkpoint key in transformers' naming, or null when it is not the CLIP text encoder's. */
    public static String fromSingleFile(String key) {
        for (String prefix : SINGLE_FILE_PREFIXES) {
            if (key.startsWith(prefix)) {
                return fromTransformers(key.substring(prefix.length()));
            }
        }
        return null;
    }

    static boolean isIgnorable(String key) {
        return POSITION_IDS.equals(key);
    }
}
