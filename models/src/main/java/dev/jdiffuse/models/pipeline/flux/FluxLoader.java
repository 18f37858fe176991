package dev.jdiffuse.models.pipeline.flux;

import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.checkpoint.FluxSingleFile;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.flux.FluxCheckpointKeys;
import dev.jdiffuse.models.flux.FluxTransformer2DModel;
import dev.jdiffuse.models.flux.FluxTransformerConfig;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FreshWeights;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.t5.T5EncoderModel;
import dev.jdiffuse.models.t5.T5Keys;
import dev.jdiffuse.models.t5.T5Tokenizer;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Files;
import java.nio.file.Path;

/** Opens FLUX.1 diffusers folders and single files (FLUX.1-dev, FLUX.1-schnell and their fine-tunes). */
public final class FluxLoader {

    private static final System.Logger LOG = System.getLogger(FluxLoader.class.getName());

    private FluxLoader() {
    }

    /**
     * A FLUX.1 single file: Black Forest Labs' transformer file ({@code flux1-dev.safetensors}, fine-tunes shared the
     * same way) or a ComfyUI checkpoint bundling the transformer ({@code model.diffusion_model.}), text encoders and
     * VAE; what a transformer-only file lacks comes from beside it ({@link FluxSingleFile}). Configs, tokenizers and
     * the scheduler come from {@code o.singleFileConfig()} where it holds them, else are detected from the shapes or
     * are Black Forest Labs' ({@link FluxSingleFileParts}).
     */
    public static DiffusionPipeline openSingleFile(Path checkpoint, String name, LoadOptions o) {
        Path config = o.singleFileConfig();
        return FreshWeights.load(o.device(), weights -> {
            try (SafetensorsStateDict raw = SafetensorsStateDict.open(checkpoint);
                    FluxSingleFile file = FluxSingleFile.beside(checkpoint, raw)) {
                StateDict all = file.view();
                FluxSingleFile.Components components = file.detect(checkpoint.toString());
                FluxSingleFileParts parts = new FluxSingleFileParts(checkpoint, config, components);
                StateDict transformerKeys = FluxCheckpointKeys.view(all);
                FluxTransformerConfig tc = parts.transformerConfig(all);
                LOG.log(System.Logger.Level.INFO, "{0}: FLUX.1 {1}{2}{3}", checkpoint.getFileName(),
                        tc.guidanceEmbeds() ? "(guidance-distilled)" : "(no guidance input)",
                        file.added().isEmpty() ? "" : "; from beside it: " + file.added(),
                        config == null ? "" : "; configs from " + config + " where present");
                FluxTransformer2DModel transformer = FluxTransformer2DModel.load(tc, transformerKeys, weights,
                        o.dtype());
                ClipTextModel clip = components.clipL().load(parts.clipConfig(), all, weights, o.dtype());
                T5EncoderModel t5 = T5EncoderModel.load(parts.t5Config(), all.renamed(T5Keys::fromSingleFile),
                        o.t5Weights(weights), o.t5Dtype());
                if (t5.config().dModel() != tc.jointAttentionDim()) {
                    throw new CheckpointFormatException(checkpoint + ": the T5 encoder is " + t5.config().dModel()
                            + " wide but the transformer's joint_attention_dim is " + tc.jointAttentionDim());
                }
                if (clip.config().hiddenSize() != tc.pooledProjectionDim()) {
                    throw new CheckpointFormatException(checkpoint + ": CLIP-L's pooled output is "
                            + clip.config().hiddenSize() + " wide but the transformer's pooled_projection_dim is "
                            + tc.pooledProjectionDim());
                }
                FluxPromptEncoder prompts = new FluxPromptEncoder(parts.clipTokenizer(), clip, parts.t5Tokenizer(),
                        t5);
                AutoencoderKL vae = Vaes.openSingleFile(parts.vaeConfig(), all, weights, o.dtype());
                if (vae.config().latentChannels() != tc.latentChannels()) {
                    throw new CheckpointFormatException(checkpoint + ": the VAE has " + vae.config().latentChannels()
                            + " latent channels but the transformer takes " + tc.latentChannels() + " (packed "
                            + tc.inChannels() + ")");
                }
                return new DiffusionPipeline(name, weights, new FluxFamily(prompts, transformer,
                        vae.config().downscale()), vae, parts.scheduler(tc.guidanceEmbeds()), o.taesd());
            }
        });
    }

    /**
     * Opens a diffusers folder: {@code transformer/}, {@code vae/} (16 latent channels), {@code text_encoder/}
     * (CLIP-L, {@code CLIPTextModel}), {@code text_encoder_2/} (T5 v1.1 encoder), {@code tokenizer/},
     * {@code tokenizer_2/} (its {@code tokenizer.json}, or the T5 v1.1 vocabulary the jar ships), {@code scheduler/}.
     * Each component's width is checked against the transformer's config, naming the field that disagrees.
     */
    public static DiffusionPipeline openFolder(Path folder, String name, LoadOptions o) {
        return FreshWeights.load(o.device(), weights -> {
            FluxTransformer2DModel transformer = FluxTransformer2DModel.load(folder.resolve("transformer"), weights,
                    o.dtype());
            FluxTransformerConfig tc = transformer.config();
            Path config = folder.resolve("transformer/config.json");
            ClipTextModel clip = ClipTextModel.load(folder.resolve("text_encoder"), weights, o.dtype());
            if (clip.config().hiddenSize() != tc.pooledProjectionDim()) {
                throw new ConfigException(config.toString(), "pooled_projection_dim", "is "
                        + tc.pooledProjectionDim() + " but the CLIP text encoder's pooled output is "
                        + clip.config().hiddenSize() + " wide");
            }
            T5EncoderModel t5 = T5EncoderModel.load(folder.resolve("text_encoder_2"), o.t5Weights(weights),
                    o.t5Dtype());
            if (t5.config().dModel() != tc.jointAttentionDim()) {
                throw new ConfigException(config.toString(), "joint_attention_dim", "is " + tc.jointAttentionDim()
                        + " but the T5 encoder's d_model is " + t5.config().dModel());
            }
            Path t5Tokenizer = folder.resolve("tokenizer_2");
            FluxPromptEncoder prompts = new FluxPromptEncoder(ClipTokenizer.load(folder.resolve("tokenizer")), clip,
                    Files.exists(t5Tokenizer.resolve("tokenizer.json")) ? T5Tokenizer.load(t5Tokenizer)
                            : T5Tokenizer.bundled(), t5);
            AutoencoderKL vae = Vaes.open(folder.resolve("vae"), weights, o.dtype(), tc.latentChannels());
            Path schedulerConfig = folder.resolve("scheduler/scheduler_config.json");
            SchedulerSelection scheduler = SchedulerSelection.read(schedulerConfig);
            if (!scheduler.isFlow()) {
                throw new ConfigException(schedulerConfig.toString(), "_class_name",
                        "FLUX is a rectified-flow model: FlowMatchEulerDiscreteScheduler expected");
            }
            return new DiffusionPipeline(name, weights, new FluxFamily(prompts, transformer,
                    vae.config().downscale()), vae, scheduler, o.taesd());
        });
    }
}
