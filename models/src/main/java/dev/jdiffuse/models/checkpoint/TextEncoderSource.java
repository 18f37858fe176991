package dev.jdiffuse.models.checkpoint;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextKeys;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.nn.StateDict;

/**
 * Where a single-file checkpoint keeps one CLIP text encoder and the config detected for it.
 *
 * @param prefix the key prefix ({@code cond_stage_model.transformer.}, {@code cond_stage_model.model.}, ...)
 * @param openClip whether it is an OpenCLIP tower (fused in_proj, {@code resblocks}) rather than a transformers model
 * @param detected the hyper-parameters read from its shapes and the family's conventions
 */
public record TextEncoderSource(String prefix, boolean openClip, ClipTextConfig detected) {

    /** The encoder with {@code config} (the detected one, or a config folder's) from {@code checkpoint}. */
    public ClipTextModel load(ClipTextConfig config, StateDict checkpoint, NDManager manager, DataType dtype) {
        if (openClip) {
            return ClipTextModel.loadOpenClip(config, checkpoint, prefix, manager, dtype);
        }
        String p = prefix;
        return ClipTextModel.load(config, checkpoint.renamed(k -> k.startsWith(p)
                ? ClipTextKeys.fromTransformers(k.substring(p.length())) : null), manager, dtype);
    }

    /** Rows of the token embedding: 49,408 for every released CLIP / OpenCLIP encoder. */
    public int vocabSize() {
        return detected.vocabSize();
    }
}
