package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.checkpoint.CheckpointFamily;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.checkpoint.DetectedSd3Checkpoint;
import dev.jdiffuse.models.checkpoint.Sd3CheckpointDetector;
import dev.jdiffuse.models.checkpoint.Sd3TextEncoderFiles;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FreshWeights;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.t5.T5EncoderModel;
import dev.jdiffuse.models.t5.T5Keys;
import dev.jdiffuse.models.t5.T5Tokenizer;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Files;
import java.nio.file.Path;

/** Opens Stable Diffusion 3 / 3.5 diffusers folders and original single files. */
public final class Sd3Loader {

    private static final System.Logger LOG = System.getLogger(Sd3Loader.class.getName());
    /** Where an MMDiT-only file's VAE is looked for, beside it. */
    static final String VAE_FOLDER = "vae";

    private Sd3Loader() {
    }

    /**
     * Opens a diffusers folder ({@code transformer/}, {@code vae/}, {@code text_encoder/}, {@code text_encoder_2/},
     * {@code tokenizer/}, {@code tokenizer_2/}, {@code scheduler/}) and, when present, {@code text_encoder_3/} (T5 v1.1)
     * with {@code tokenizer_3/} (or the T5 v1.1 vocabulary the jar ships); without it the T5 part of the context is
     * zeros, as diffusers does when the component is absent.
     */
    public static DiffusionPipeline openFolder(Path folder, String name, LoadOptions o) {
        return FreshWeights.load(o.device(), weights -> {
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

    /**
     * An original SD 3 / 3.5 single file ({@code model.diffusion_model.*} MMDiT, {@code first_stage_model.*} VAE,
     * {@code text_encoders.clip_l / clip_g / t5xxl.transformer.*}), as model sites ship it; an MMDiT-only file
     * ({@code sd3.5_large.safetensors}) takes the encoders it lacks from {@code text_encoders/} beside it
     * ({@link Sd3TextEncoderFiles}), as Stability's repositories lay them out; an MMDiT without prefix and VAE (a GGUF,
     * {@code sd3.5_large-Q8_0.gguf}) also takes the diffusers VAE folder {@code vae/} beside it. Every component's
     * hyper-parameters are detected from its keys and shapes ({@link Sd3CheckpointDetector}); where
     * {@code o.singleFileConfig()} is a diffusers config folder, each config, tokenizer and the scheduler it holds wins
     * over the detected one ({@link Sd3SingleFileParts}). Without T5 weights the T5 part of the context is zeros, as
     * for a folder without {@code text_encoder_3/}.
     */
    public static DiffusionPipeline openSingleFile(Path checkpoint, String name, LoadOptions o) {
        Path config = o.singleFileConfig();
        return FreshWeights.load(o.device(), weights -> {
            try (SafetensorsStateDict raw = SafetensorsStateDict.open(checkpoint);
                    Sd3TextEncoderFiles encoders = Sd3TextEncoderFiles.beside(checkpoint, raw)) {
                StateDict file = encoders.view();
                Path vaeFolder = null;
                if (Sd3CheckpointDetector.isBareMmdit(file.keys())) {
                    file = Sd3CheckpointDetector.withMmditPrefix(file);
                    vaeFolder = vaeFolderBeside(checkpoint);
                }
                DetectedSd3Checkpoint d = Sd3CheckpointDetector.detect(file, checkpoint.toString(),
                        vaeFolder == null ? null : AutoencoderKLConfig.read(vaeFolder.resolve("config.json")));
                LOG.log(System.Logger.Level.INFO, "{0}: {1}{2}{3}{4}", checkpoint.getFileName(),
                        CheckpointFamily.SD3.displayName(), d.t5() == null ? ", no T5 encoder (zeros in its place)"
                        : "", encoders.added().isEmpty() ? "" : "; text encoders from " + encoders.added(),
                        config == null ? "" : "; configs from " + config + " where present");
                Sd3SingleFileParts parts = new Sd3SingleFileParts(checkpoint, config, d);
                SD3TransformerConfig tc = parts.transformerConfig();
                ClipTextModel te = parts.clip(1, file, weights, o.dtype());
                ClipTextModel te2 = parts.clip(2, file, weights, o.dtype());
                T5Config t5c = parts.t5Config();
                Sd3PromptEncoder.T5Text t5 = null;
                if (t5c != null) {
                    if (t5c.dModel() != tc.jointAttentionDim()) {
                        throw new CheckpointFormatException(checkpoint + ": the T5 encoder is " + t5c.dModel()
                                + " wide but the MMDiT's joint_attention_dim is " + tc.jointAttentionDim());
                    }
                    t5 = new Sd3PromptEncoder.T5Text(parts.t5Tokenizer(), T5EncoderModel.load(t5c,
                            file.renamed(T5Keys::fromSingleFile), o.t5Weights(weights), o.t5Dtype()));
                }
                Sd3PromptEncoder prompts = new Sd3PromptEncoder(parts.tokenizer(1), te, parts.tokenizer(2), te2,
                        tc.jointAttentionDim(), t5);
                if (prompts.pooledWidth() != tc.pooledProjectionDim()) {
                    throw new CheckpointFormatException(checkpoint + ": the MMDiT's pooled_projection_dim is "
                            + tc.pooledProjectionDim() + " but the two CLIP encoders' projections give "
                            + prompts.pooledWidth());
                }
                SD3Transformer2DModel transformer = SD3Transformer2DModel.loadSingleFile(tc, file, weights,
                        o.dtype());
                AutoencoderKL vae = vaeFolder != null ? Vaes.open(vaeFolder, weights, o.dtype(), tc.inChannels())
                        : Vaes.openSingleFile(parts.vaeConfig(), file, weights, o.dtype());
                StableDiffusion3Family family = new StableDiffusion3Family(prompts, transformer,
                        vae.config().downscale(), StableDiffusion3Family.DEFAULT_MAX_SEQUENCE_LENGTH);
                return new DiffusionPipeline(name, weights, family, vae, parts.scheduler(), o.taesd());
            }
        });
    }

    /**
     * The diffusers VAE folder ({@code config.json} and its weights) beside an MMDiT without a VAE, as Stability's
     * repositories hold it next to {@code sd3.5_large.safetensors} and {@code text_encoders/}: where a GGUF of the
     * MMDiT ({@code sd3.5_large-Q8_0.gguf}) is put. Missing: refused naming where it is looked for.
     */
    private static Path vaeFolderBeside(Path checkpoint) {
        Path vae = checkpoint.resolveSibling(VAE_FOLDER);
        if (!Files.isRegularFile(vae.resolve("config.json"))) {
            throw new CheckpointFormatException(checkpoint + ": an SD 3 / 3.5 MMDiT without its VAE (no "
                    + "first_stage_model.*, as GGUF files ship it): put the diffusers VAE folder (" + VAE_FOLDER
                    + "/config.json and " + VAE_FOLDER + "/diffusion_pytorch_model.safetensors, as in Stability's "
                    + "repository) beside it, with the text encoders in " + Sd3TextEncoderFiles.FOLDER + "/");
        }
        return vae;
    }

    /** The folder's T5 encoder and tokenizer, or null without {@code text_encoder_3/}. */
    private static Sd3PromptEncoder.T5Text t5(Path folder, NDManager weights, LoadOptions o, int joint) {
        Path dir = folder.resolve("text_encoder_3");
        if (!Files.isDirectory(dir)) {
            return null;
        }
        T5EncoderModel encoder = T5EncoderModel.load(dir, o.t5Weights(weights), o.t5Dtype());
        if (encoder.config().dModel() != joint) {
            throw new ConfigException(dir.resolve("config.json").toString(), "d_model", "is "
                    + encoder.config().dModel() + " but the transformer's joint_attention_dim is " + joint);
        }
        Path tokenizer = folder.resolve("tokenizer_3");
        return new Sd3PromptEncoder.T5Text(Files.exists(tokenizer.resolve("tokenizer.json"))
                ? T5Tokenizer.load(tokenizer) : T5Tokenizer.bundled(), encoder);
    }

    private static ClipTextModel projected(Path folder, String component, NDManager weights, LoadOptions o) {
        ClipTextModel encoder = ClipTextModel.load(folder.resolve(component), weights, o.dtype());
        if (!encoder.config().withProjection()) {
            throw new ConfigException(folder.resolve(component + "/config.json").toString(), "architectures",
                    "SD3 needs CLIPTextModelWithProjection (its pooled text_embeds)");
        }
        return encoder;
    }
}
