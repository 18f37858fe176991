package dev.jdiffuse.models.clip;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.Activations;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * transformers' {@code CLIPTextConfig} ({@code text_encoder/config.json}); absent fields take transformers'
 * defaults. {@code architectures} decides whether the model carries {@code text_projection}
 * ({@code CLIPTextModelWithProjection}: SDXL's and SD3's second encoder).
 */
public record ClipTextConfig(int hiddenSize, int intermediateSize, int numAttentionHeads, int numHiddenLayers,
        int maxPositionEmbeddings, int vocabSize, String hiddenAct, double layerNormEps, int projectionDim,
        int bosTokenId, int eosTokenId, int padTokenId, List<String> architectures) {

    public static final String TEXT_MODEL = "CLIPTextModel";
    public static final String WITH_PROJECTION = "CLIPTextModelWithProjection";
    private static final Set<String> SUPPORTED_ARCHITECTURES = Set.of(TEXT_MODEL, WITH_PROJECTION);

    public static ClipTextConfig read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static ClipTextConfig from(ConfigJson c) {
        String act = c.getString("hidden_act", "quick_gelu");
        if (!Activations.isSupported(act)) {
            throw new ConfigException(c.source(), "hidden_act", "unsupported activation '" + act + "'");
        }
        List<String> arch = c.getStringList("architectures", List.of(TEXT_MODEL));
        if (arch.size() != 1 || !SUPPORTED_ARCHITECTURES.contains(arch.get(0))) {
            throw new ConfigException(c.source(), "architectures",
                    "expected one of " + SUPPORTED_ARCHITECTURES + ", got " + arch);
        }
        ClipTextConfig cfg = new ClipTextConfig(c.getInt("hidden_size", 512), c.getInt("intermediate_size", 2048),
                c.getInt("num_attention_heads", 8), c.getInt("num_hidden_layers", 12),
                c.getInt("max_position_embeddings", 77), c.getInt("vocab_size", 49408), act,
                c.getDouble("layer_norm_eps", 1e-5), c.getInt("projection_dim", 512),
                c.getInt("bos_token_id", 49406), c.getInt("eos_token_id", 49407), c.getInt("pad_token_id", 1), arch);
        if (cfg.hiddenSize % cfg.numAttentionHeads != 0) {
            throw new ConfigException(c.source(), "num_attention_heads",
                    cfg.numAttentionHeads + " does not divide hidden_size " + cfg.hiddenSize);
        }
        return cfg;
    }

    /** Whether the checkpoint has {@code text_projection.weight} and the output {@code text_embeds}. */
    public boolean withProjection() {
        return architectures.contains(WITH_PROJECTION);
    }
}
