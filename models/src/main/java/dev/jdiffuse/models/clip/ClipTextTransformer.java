package dev.jdiffuse.models.clip;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Embedding;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static dev.jdiffuse.samplers.nd.ScalarOps.eq;

/**
 * transformers' {@code CLIPTextTransformer} ({@code text_model.*}): token + learned position embeddings, N pre-norm
 * blocks with causal self-attention, {@code final_layer_norm}, and pooling at the EOS token.
 */
final class ClipTextTransformer extends Module {

    /** transformers' legacy pooling (configs saved before eos_token_id was fixed) takes the argmax of the ids. */
    private static final int LEGACY_EOS_ID = ClipScriptSource.LEGACY_EOS_ID;

    private final ClipTextConfig config;
    private final Embeddings embeddings;
    private final Encoder encoder;
    private final LayerNorm finalLayerNorm;
    /** Constants made once in the weights' manager: position table prefixes and causal masks, per length. */
    private final Map<String, NDArray> constants = new ConcurrentHashMap<>();

    ClipTextTransformer(ClipTextConfig c) {
        this.config = c;
        this.embeddings = child("embeddings", new Embeddings(c));
        this.encoder = child("encoder", new Encoder(c));
        this.finalLayerNorm = child("final_layer_norm", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
    }

    /**
     * @param ids int64 [B, L], L <= max_position_embeddings, on the weights' device
     * @return outputs in {@code ids}' manager; {@code textEmbeds} null (the projection is the caller's)
     */
    ClipTextOutput forward(NDArray ids) {
        return forward(ids, null, null);
    }

    /**
     * With some token embeddings replaced (textual inversion): at the positions where {@code replace} [L, 1] is
     * true, the input embedding is {@code rows} [L, D] instead of the token table's row; other positions keep theirs
     * exactly ({@code where} selects, it does not mix).
     */
    ClipTextOutput forward(NDArray ids, NDArray rows, NDArray replace) {
        checkIds(ids);
        long length = ids.getShape().get(1);
        NDArray tokens = embeddings.tokens.forward(ids);
        if (rows != null) {
            Shape shape = tokens.getShape(); // [B, L, D]; DJL's where does not broadcast
            tokens = ai.djl.ndarray.NDArrays.where(replace.broadcast(shape),
                    rows.toType(tokens.getDataType(), false).broadcast(shape), tokens);
        }
        NDArray x = tokens.add(positions(length));
        NDArray mask = causalMask(length, x.getDevice());
        List<NDArray> hidden = new ArrayList<>(encoder.layers.size() + 1);
        hidden.add(x);
        for (ClipEncoderLayer layer : encoder.layers) {
            x = layer.forward(x, mask);
            hidden.add(x);
        }
        NDArray last = finalLayerNorm.forward(x);
        return new ClipTextOutput(last, List.copyOf(hidden), pool(last, ids), null);
    }

    /** @throws IllegalArgumentException unless ids is [B, L] with L <= max_position_embeddings */
    void checkIds(NDArray ids) {
        if (ids.getShape().dimension() != 2 || ids.getShape().get(1) > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("ids must be [B, L<=" + config.maxPositionEmbeddings() + "], got "
                    + ids.getShape());
        }
    }

    Device device() {
        return embeddings.tokens.table().getDevice();
    }

    NDArray finalLayerNorm(NDArray x) {
        return finalLayerNorm.forward(x);
    }

    /** [B, L, D] at each row's EOS position -> [B, D], gathered by a one-hot product (exact, no host round trip). */
    private NDArray pool(NDArray last, NDArray ids) {
        NDArray key = config.eosTokenId() == LEGACY_EOS_ID ? ids : eq(ids, config.eosTokenId());
        NDArray at = key.toType(DataType.INT32, false).argMax(1);
        NDArray oneHot = at.oneHot((int) last.getShape().get(1)).toType(last.getDataType(), false);
        return oneHot.expandDims(1).matMul(last).squeeze(1);
    }

    /** position_embedding.weight[:L], [L, D]. */
    private NDArray positions(long length) {
        NDArray table = embeddings.positions.table();
        if (length == table.getShape().get(0)) {
            return table;
        }
        return constants.computeIfAbsent("pos/" + length, k -> table.get(new NDIndex("0:{}", length)));
    }

    /** Additive float32 [L, L] mask: 0 on and below the diagonal, -inf above (token i sees tokens 0..i). */
    private NDArray causalMask(long length, Device device) {
        return constants.computeIfAbsent("mask/" + length + "/" + device, k -> {
            int n = (int) length;
            float[] m = new float[n * n];
            for (int i = 0; i < n; i++) {
                Arrays.fill(m, i * n + i + 1, (i + 1) * n, Float.NEGATIVE_INFINITY);
            }
            NDManager owner = embeddings.tokens.table().getManager();
            return owner.create(m, new Shape(n, n)).toDevice(device, false);
        });
    }

    /** {@code embeddings.token_embedding} and {@code embeddings.position_embedding}. */
    static final class Embeddings extends Module {

        final Embedding tokens;
        final Embedding positions;

        Embeddings(ClipTextConfig c) {
            this.tokens = child("token_embedding", new Embedding(c.vocabSize(), c.hiddenSize()));
            this.positions = child("position_embedding", new Embedding(c.maxPositionEmbeddings(), c.hiddenSize()));
        }
    }

    /** {@code encoder.layers.N}. */
    static final class Encoder extends Module {

        final ModuleList<ClipEncoderLayer> layers = child("layers", new ModuleList<>());

        Encoder(ClipTextConfig c) {
            for (int i = 0; i < c.numHiddenLayers(); i++) {
                layers.add(new ClipEncoderLayer(c));
            }
        }
    }
}
