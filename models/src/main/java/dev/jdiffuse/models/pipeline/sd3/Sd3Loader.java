package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5EncoderModel;
import dev.jdiffuse.models.t5.T5Tokenizer;
import dev.jdiffuse.models.vae.AutoencoderKL;

import java.nio.file.Files;
import java.nio.file.Path;

/** Opens Stable Diffusion 3 / 3.5 diffusers folders. */
public final class Sd3Loader {

    private Sd3Loader() {
    }

    /**
     * Opens a diffusers folder ({@code transformer/}, {@code vae/}, {@code text_encoder/}, {@code text_encoder_2/},
     * {@code tokenizer/}, {@code tokenizer_2/}, {@code scheduler/}) and, when present, {@code text_encoder_3/} (T5 v1.1)
     * with {@code tokenizer_3/} (or the T5 v1.1 vocabulary the jar ships); without it the T5 part of the context is
     * zeros, as diffusers does when the component is absent.
     */
    public static DiffusionPipeline openFolder(Path folder, String name, Pipelines.Options o) {
        return Pipelines.loading(o.device(), weights -> {
            ClipTextModel te = projected(folder, "text_encoder", weights, o);
            ClipTextModel te2 = projected(folder, "text_encoder_2", weights, o);
            SD3Transformer2DModel transformer = SD3Transformer2DModel.load(folder.resolve("transformer"), weights,
                    o.dtype());
            SD3TransformerConfig tc = transformer.config();
            Sd3PromptEncoder prompts = new Sd3PromptEncoder(ClipTokenizer.load(folder.resolve("tokenizer")), te,
                    ClipTokenizer.load(folder.resolve("tokenizer_2")), te2, tc.jointAttentionDim(),
                    t5(folder, weights, o, tc.jointAttentionDim()));
            if (prompts.pooledWidth() != tc.pooledProjectionDim()) {
                throw new ConfigException(folder.resolve("transformer/config.json").toString(),
                        "pooled_projection_dim", "is " + tc.pooledProjectionDim() + " but the two text encoders' "
                        + "projections give " + prompts.pooledWidth());
            }
            AutoencoderKL vae = Vaes.open(folder.resolve("vae"), weights, o.dtype(), tc.inChannels());
            Path schedulerConfig = folder.resolve("scheduler/scheduler_config.json");
            SchedulerSelection scheduler = SchedulerSelection.read(schedulerConfig);
            if (!scheduler.isFlow()) {
                throw new ConfigException(schedulerConfig.toString(), "_class_name",
                        "SD3 is a rectified-flow model: FlowMatchEulerDiscreteScheduler expected");
            }
            StableDiffusion3Family family = new StableDiffusion3Family(prompts, transformer, vae.config().downscale(),
                    StableDiffusion3Family.DEFAULT_MAX_SEQUENCE_LENGTH);
            return new DiffusionPipeline(name, weights, family, vae, scheduler, o.taesd());
        });
    }

    /** The folder's T5 encoder and tokenizer, or null without {@code text_encoder_3/}. */
    private static Sd3PromptEncoder.T5Text t5(Path folder, NDManager weights, Pipelines.Options o, int joint) {
        Path dir = folder.resolve("text_encoder_3");
        if (!Files.isDirectory(dir)) {
            return null;
        }
        T5EncoderModel encoder = T5EncoderModel.load(dir, weights, o.dtype());
        if (encoder.config().dModel() != joint) {
            throw new ConfigException(dir.resolve("config.json").toString(), "d_model", "is "
                    + encoder.config().dModel() + " but the transformer's joint_attention_dim is " + joint);
        }
        Path tokenizer = folder.resolve("tokenizer_3");
        return new Sd3PromptEncoder.T5Text(Files.exists(tokenizer.resolve("tokenizer.json"))
                ? T5Tokenizer.load(tokenizer) : T5Tokenizer.bundled(), encoder);
    }

    private static ClipTextModel projected(Path folder, String component, NDManager weights, Pipelines.Options o) {
        ClipTextModel encoder = ClipTextModel.load(folder.resolve(component), weights, o.dtype());
        if (!encoder.config().withProjection()) {
            throw new ConfigException(folder.resolve(component + "/config.json").toString(), "architectures",
                    "SD3 needs CLIPTextModelWithProjection (its pooled text_embeds)");
        }
        return encoder;
    }
}
