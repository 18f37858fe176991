package dev.jdiffuse.models.t5;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Embedding;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;

/**
 * The T5 encoder (Raffel et al. 2020; v1.1: gated GELU, no tied-embedding scaling), as transformers'
 * {@code T5EncoderModel}: {@code shared} token embedding, {@code encoder.block.N} pre-norm blocks with relative
 * position bias (made once by block 0, shared by all), {@code encoder.final_layer_norm}. Output
 * {@code last_hidden_state} [B, L, d_model] in the weights' dtype. Parameter names are transformers';
 * {@code encoder.embed_tokens.weight}, when saved, is the tied copy of {@code shared.weight} and is not read.
 *
 * <p>Use (SD3's {@code _get_t5_prompt_embeds}): {@code model.encode(stepManager, tokenizer.encodePadded(prompts, 256))};
 * no attention mask is passed, so padding tokens take part in attention as in diffusers.
 */
public final class T5EncoderModel extends Module {

    /** The tied copy of {@code shared.weight} that some saves include. */
    public static final String TIED_EMBED_TOKENS = "encoder.embed_tokens.weight";

    private final T5Config config;
    private final Embedding shared;
    private final Stack encoder;

    public T5EncoderModel(T5Config config) {
        this.config = config;
        this.shared = child("shared", new Embedding(config.vocabSize(), config.dModel()));
        this.encoder = child("encoder", new Stack(config));
    }

    /** A transformers folder (SD3's {@code text_encoder_3/}): {@code config.json} + {@code model.safetensors}. */
    public static T5EncoderModel load(Path folder, NDManager manager, DataType dtype) {
        T5Config config = T5Config.read(folder.resolve("config.json"));
        try (SafetensorsStateDict sd = WeightFiles.open(folder, WeightFiles.TRANSFORMERS)) {
            return load(config, sd, manager, dtype);
        }
    }

    /**
     * From weights in transformers' naming. BF16 checkpoints load into FLOAT32 or FLOAT16 (the loader widens the
     * stored bits on the host); a tied {@code encoder.embed_tokens.weight} is ignored.
     */
    public static T5EncoderModel load(T5Config config, StateDict weights, NDManager manager, DataType dtype) {
        T5EncoderModel model = new T5EncoderModel(config);
        WeightLoader.load(model, weights, manager, dtype, "T5 encoder", TIED_EMBED_TOKENS::equals);
        return model;
    }

    /**
     * From a single-file checkpoint: the T5 encoder under {@link T5Keys#SINGLE_FILE_PREFIXES} (SD3/3.5 files that
     * bundle their text encoders), config detected from the shapes ({@link T5Config#detect}); other keys are left
     * alone. A standalone {@code t5xxl_*.safetensors} is already in transformers' naming: use
     * {@code load(T5Config.detect(sd), sd, manager, dtype)}.
     */
    public static T5EncoderModel loadSingleFile(StateDict checkpoint, NDManager manager, DataType dtype) {
        StateDict t5 = checkpoint.renamed(T5Keys::fromSingleFile);
        return load(T5Config.detect(t5), t5, manager, dtype);
    }

    /**
     * Encodes a batch of token ids (rows of equal length, e.g. {@link T5Tokenizer#encodePadded}).
     *
     * @param manager owns the ids and every result (a per-request manager)
     * @return last_hidden_state [B, L, d_model]
     */
    public NDArray encode(NDManager manager, int[][] ids) {
        if (ids.length == 0 || ids[0].length == 0) {
            throw new IllegalArgumentException("empty batch");
        }
        int length = ids[0].length;
        long[] flat = new long[ids.length * length];
        for (int b = 0; b < ids.length; b++) {
            if (ids[b].length != length) {
                throw new IllegalArgumentException("rows of different lengths: " + ids[b].length + " and " + length);
            }
            for (int i = 0; i < length; i++) {
                if (ids[b][i] < 0 || ids[b][i] >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + ids[b][i] + " outside vocab_size "
                            + config.vocabSize());
                }
                flat[b * length + i] = ids[b][i];
            }
        }
        return encode(HostCopies.onDevice(manager, device(), m -> m.create(flat, new Shape(ids.length, length))));
    }

    /** @param ids int64 [B, L] on the weights' device; the result lands in its manager */
    public NDArray encode(NDArray ids) {
        if (ids.getShape().dimension() != 2) {
            throw new IllegalArgumentException("ids must be [B, L], got " + ids.getShape());
        }
        int length = Math.toIntExact(ids.getShape().get(1));
        NDArray buckets = HostCopies.onDevice(ids.getManager(), device(), m -> m.create(T5RelativePosition.buckets(
                length, config.relativeAttentionNumBuckets(), config.relativeAttentionMaxDistance())));
        NDArray x = shared.forward(ids);
        NDArray bias = encoder.blocks.get(0).attention.selfAttention.positionBias(buckets, length);
        for (T5Block block : encoder.blocks) {
            x = block.forward(x, bias);
        }
        return encoder.finalLayerNorm.forward(x);
    }

    public T5Config config() {
        return config;
    }

    /** The device holding the weights. */
    public Device device() {
        return shared.table().getDevice();
    }

    /** The weights' dtype. */
    public DataType dataType() {
        return shared.table().getDataType();
    }

    /** transformers' {@code T5Stack} ({@code encoder.*}): {@code block.N} and {@code final_layer_norm}. */
    static final class Stack extends Module {

        final ModuleList<T5Block> blocks = child("block", new ModuleList<>());
        final T5LayerNorm finalLayerNorm;

        Stack(T5Config c) {
            for (int i = 0; i < c.numLayers(); i++) {
                blocks.add(new T5Block(c, i == 0));
            }
            this.finalLayerNorm = child("final_layer_norm", new T5LayerNorm(c.dModel(), c.layerNormEpsilon()));
        }
    }
}
