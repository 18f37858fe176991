package dev.jdiffuse.models.pipeline.flux;

import dev.jdiffuse.models.checkpoint.FluxSingleFile;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.flux.FluxCheckpointDetector;
import dev.jdiffuse.models.flux.FluxTransformerConfig;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.pipeline.ConfigFolder;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.SingleFileTokenizers;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.t5.T5Tokenizer;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

import java.nio.file.Path;

/**
 * The configs, tokenizers and scheduler of a FLUX.1 single file: each from the config folder where it holds that
 * component ({@code transformer/config.json}, {@code tokenizer/}, ...; the transformer's is checked against the file's
 * shapes), else detected / as Black Forest Labs publish them:
 * <ul>
 *   <li>transformer: from the key shapes, RoPE axes 16 + 56 + 56 ({@link FluxCheckpointDetector});</li>
 *   <li>CLIP tokenizer: CLIP's vocabulary bundled in the jar (49,408 tokens), else {@code <name>.tokenizer/} beside;
 *       T5 tokenizer: the T5 v1.1 vocabulary bundled in the jar;</li>
 *   <li>scheduler: FlowMatchEulerDiscreteScheduler as in FLUX.1-dev's folder (dynamic shift, base 0.5, max 1.15) for
 *       a guidance-distilled transformer, as in FLUX.1-schnell's (shift 1, no dynamic shift) otherwise.</li>
 * </ul>
 */
final class FluxSingleFileParts {

    private static final String DEV_SCHEDULER = "/dev/jdiffuse/models/checkpoint/flux_dev_scheduler_config.json";
    private static final String SCHNELL_SCHEDULER =
            "/dev/jdiffuse/models/checkpoint/flux_schnell_scheduler_config.json";

    private final Path checkpoint;
    private final Path config;
    private final ConfigFolder folder;
    private final FluxSingleFile.Components detected;

    FluxSingleFileParts(Path checkpoint, Path config, FluxSingleFile.Components detected) {
        this.checkpoint = checkpoint;
        this.config = config;
        this.folder = new ConfigFolder(config);
        this.detected = detected;
    }

    FluxTransformerConfig transformerConfig(StateDict transformer) {
        Path f = folder.file("transformer/config.json");
        return f != null ? FluxCheckpointDetector.requireMatches(FluxTransformerConfig.read(f), transformer,
                checkpoint.toString()) : FluxCheckpointDetector.detect(transformer, checkpoint.toString());
    }

    ClipTextConfig clipConfig() {
        Path f = folder.file("text_encoder/config.json");
        return f != null ? ClipTextConfig.read(f) : detected.clipL().detected();
    }

    T5Config t5Config() {
        Path f = folder.file("text_encoder_2/config.json");
        return f != null ? T5Config.read(f) : detected.t5();
    }

    AutoencoderKLConfig vaeConfig() {
        Path f = folder.file("vae/config.json");
        return f != null ? AutoencoderKLConfig.read(f) : detected.vae();
    }

    ClipTokenizer clipTokenizer() {
        return SingleFileTokenizers.clip(checkpoint, config, 1, false, detected.clipL().vocabSize(),
                detected.clipL().prefix());
    }

    T5Tokenizer t5Tokenizer() {
        Path f = folder.file("tokenizer_2/tokenizer.json");
        return f != null ? T5Tokenizer.load(f.getParent()) : T5Tokenizer.bundled();
    }

    /** The config folder's scheduler, else FLUX.1-dev's or -schnell's; must be a flow-matching scheduler. */
    SchedulerSelection scheduler(boolean guidanceDistilled) {
        Path f = folder.file("scheduler/scheduler_config.json");
        SchedulerSelection s = f != null ? SchedulerSelection.read(f)
                : SchedulerSelection.resource(guidanceDistilled ? DEV_SCHEDULER : SCHNELL_SCHEDULER);
        if (!s.isFlow()) {
            throw new ConfigException(String.valueOf(f), "_class_name",
                    "FLUX is a rectified-flow model: FlowMatchEulerDiscreteScheduler expected");
        }
        return s;
    }
}
