package dev.jdiffuse.models.pipeline.flux;

import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.flux.FluxTransformer2DModel;
import dev.jdiffuse.models.flux.FluxTransformerConfig;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.t5.T5EncoderModel;
import dev.jdiffuse.models.t5.T5Tokenizer;
import dev.jdiffuse.models.vae.AutoencoderKL;

import java.nio.file.Files;
import java.nio.file.Path;

/** Opens FLUX.1 diffusers folders (FLUX.1-dev, FLUX.1-schnell and fine-tunes saved the same way). */
public final class FluxLoader {

    private FluxLoader() {
    }

    /**
     * Opens a diffusers folder: {@code transformer/}, {@code vae/} (16 latent channels), {@code text_encoder/}
     * (CLIP-L, {@code CLIPTextModel}), {@code text_encoder_2/} (T5 v1.1 encoder), {@code tokenizer/},
     * {@code tokenizer_2/} (its {@code tokenizer.json}, or the T5 v1.1 vocabulary the jar ships), {@code scheduler/}.
     * Each component's width is checked against the transformer's config, naming the field that disagrees.
     */
    public static DiffusionPipeline openFolder(Path folder, String name, Pipelines.Options o) {
        return Pipelines.loading(o.device(), weights -> {
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
            T5EncoderModel t5 = T5EncoderModel.load(folder.resolve("text_encoder_2"), weights, o.dtype());
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
