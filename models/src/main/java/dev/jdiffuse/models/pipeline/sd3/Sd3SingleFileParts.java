package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.checkpoint.DetectedSd3Checkpoint;
import dev.jdiffuse.models.checkpoint.TextEncoderSource;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextKeys;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.pipeline.ConfigFolder;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.SingleFileTokenizers;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.t5.T5Tokenizer;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The configs, tokenizers, scheduler and CLIP encoders of an SD 3 / 3.5 single file: each config, tokenizer and the
 * scheduler from the config folder where it holds that component ({@code transformer/config.json},
 * {@code tokenizer_2/}, ...), else detected / conventional:
 * <ul>
 *   <li>CLIP tokenizers: CLIP's vocabulary bundled in the jar when the encoder has its 49,408 tokens, padded with
 *       {@code <|endoftext|>} for CLIP-L and {@code !} for CLIP-G, as the released {@code tokenizer/} and
 *       {@code tokenizer_2/} do; another vocabulary (test models) needs {@code <name>.tokenizer/} (both encoders;
 *       the second pads with {@code !}) or {@code <name>.tokenizer_2/} beside the file;</li>
 *   <li>T5 tokenizer: the T5 v1.1 vocabulary bundled in the jar (the released {@code tokenizer_3/});</li>
 *   <li>scheduler: FlowMatchEulerDiscreteScheduler with shift 3.0, as published with every SD 3 / 3.5 model;</li>
 *   <li>CLIP-L's projection: released files carry none and SD 3 conditions on the unprojected pooled output
 *       (diffusers loads an identity {@code text_projection}, ComfyUI returns the pooled output unprojected); a file
 *       that carries one (converted from a diffusers folder) has it used.</li>
 * </ul>
 */
final class Sd3SingleFileParts {

    private static final String DEFAULT_SCHEDULER = "/dev/jdiffuse/models/checkpoint/sd3_scheduler_config.json";

    private final Path checkpoint;
    private final Path config;
    private final ConfigFolder folder;
    private final DetectedSd3Checkpoint detected;

    Sd3SingleFileParts(Path checkpoint, Path config, DetectedSd3Checkpoint detected) {
        this.checkpoint = checkpoint;
        this.config = config;
        this.folder = new ConfigFolder(config);
        this.detected = detected;
    }

    SD3TransformerConfig transformerConfig() {
        Path f = folder.file("transformer/config.json");
        return f != null ? SD3TransformerConfig.read(f) : detected.transformer();
    }

    AutoencoderKLConfig vaeConfig() {
        Path f = folder.file("vae/config.json");
        return f != null ? AutoencoderKLConfig.read(f) : detected.vae();
    }

    /** The T5 config, or null when the file has no T5 encoder. */
    T5Config t5Config() {
        if (detected.t5() == null) {
            return null;
        }
        Path f = folder.file("text_encoder_3/config.json");
        return f != null ? T5Config.read(f) : detected.t5();
    }

    T5Tokenizer t5Tokenizer() {
        Path f = folder.file("tokenizer_3/tokenizer.json");
        return f != null ? T5Tokenizer.load(f) : T5Tokenizer.bundled();
    }

    /**
     * CLIP encoder {@code n} (1: CLIP-L, 2: CLIP-G) with the config folder's config or the detected one; must have a
     * projection (SD 3 conditions on both pooled outputs).
     */
    ClipTextModel clip(int n, StateDict file, NDManager manager, DataType dtype) {
        Path f = folder.file(ConfigFolder.component("text_encoder", n) + "/config.json");
        ClipTextConfig c = f != null ? ClipTextConfig.read(f) : source(n).detected();
        if (!c.withProjection()) {
            throw new ConfigException(String.valueOf(f), "architectures", "SD3 needs CLIPTextModelWithProjection (its "
                    + "pooled text_embeds)");
        }
        String p = source(n).prefix();
        StateDict view = file.renamed(k -> k.startsWith(p) ? ClipTextKeys.fromTransformers(k.substring(p.length()))
                : null);
        if (n == 1 && !detected.clipLProjected()) {
            view = withIdentityProjection(view, c);
        }
        return ClipTextModel.load(c, view, manager, dtype);
    }

    /** @param n 1 for {@code tokenizer}, 2 for {@code tokenizer_2} ({@link SingleFileTokenizers} says from where) */
    ClipTokenizer tokenizer(int n) {
        return SingleFileTokenizers.clip(checkpoint, config, n, n == 2, source(n).vocabSize(),
                source(n).prefix());
    }

    /** The config folder's scheduler, else FlowMatchEuler with shift 3.0; must be a flow-matching scheduler. */
    SchedulerSelection scheduler() {
        Path f = folder.file("scheduler/scheduler_config.json");
        SchedulerSelection s = f != null ? SchedulerSelection.read(f) : SchedulerSelection.resource(DEFAULT_SCHEDULER);
        if (!s.isFlow()) {
            throw new ConfigException(String.valueOf(f), "_class_name",
                    "SD3 is a rectified-flow model: FlowMatchEulerDiscreteScheduler expected");
        }
        return s;
    }

    /** {@code view} plus an identity {@code text_projection.weight} [D, D] (the projection width must be D). */
    private static StateDict withIdentityProjection(StateDict view, ClipTextConfig c) {
        String key = "text_projection.weight";
        int d = c.hiddenSize();
        if (c.projectionDim() != d) {
            throw new ConfigException("CLIP-L config", "projection_dim", "is " + c.projectionDim() + " but the file "
                    + "has no text_projection, so the pooled output is used unprojected at the hidden width " + d);
        }
        Set<String> keys = new HashSet<>(view.keys());
        keys.add(key);
        return StateDict.of(Set.copyOf(keys), k -> k.equals(key) ? new long[] {d, d} : view.shape(k),
                (k, manager, dtype) -> k.equals(key) ? eye(manager, d, dtype) : view.load(k, manager, dtype));
    }

    private static NDArray eye(NDManager manager, int d, DataType dtype) {
        float[] v = new float[d * d];
        for (int i = 0; i < d; i++) {
            v[i * d + i] = 1f;
        }
        NDArray a = manager.create(v, new Shape(d, d));
        if (dtype == DataType.FLOAT32) {
            return a;
        }
        NDArray cast = a.toType(dtype, false);
        a.close();
        return cast;
    }

    private TextEncoderSource source(int n) {
        return n == 1 ? detected.clipL() : detected.clipG();
    }
}
