package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.checkpoint.CheckpointDetector;
import dev.jdiffuse.models.checkpoint.DetectedCheckpoint;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FreshWeights;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.unet.ControlNetModel;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Opens Stable Diffusion 1.x/2.x/XL as diffusers folders or original single-file checkpoints. */
public final class SdLoader {

    private static final System.Logger LOG = System.getLogger(SdLoader.class.getName());

    private SdLoader() {
    }

    /**
     * A diffusers pipeline folder ({@code model_index.json}, {@code unet/}, {@code vae/}, {@code text_encoder/},
     * {@code tokenizer/}, {@code scheduler/}, and for SDXL {@code text_encoder_2/}, {@code tokenizer_2/}; an optional
     * {@code controlnet/}). The SDXL refiner's folder has {@code text_encoder_2/} and {@code tokenizer_2/} only
     * ({@code text_encoder: [null, null]} in its {@code model_index.json}).
     */
    public static DiffusionPipeline openFolder(Path folder, String name, LoadOptions o) {
        DataType dtype = o.dtype();
        return FreshWeights.load(o.device(), weights -> {
            boolean xl = Files.isDirectory(folder.resolve("text_encoder_2"));
            boolean first = !xl || Files.isDirectory(folder.resolve("text_encoder"));
            SdPromptEncoder prompts = new SdPromptEncoder(first ? ClipTokenizer.load(folder.resolve("tokenizer")) : null,
                    first ? ClipTextModel.load(folder.resolve("text_encoder"), weights, dtype) : null,
                    xl ? ClipTokenizer.load(folder.resolve("tokenizer_2")) : null,
                    xl ? ClipTextModel.load(folder.resolve("text_encoder_2"), weights, dtype) : null);
            UNet2DConditionModel unet = UNet2DConditionModel.load(folder.resolve("unet"), weights, dtype);
            AutoencoderKL vae = Vaes.open(folder.resolve("vae"), weights, dtype, 0);
            Map<String, ControlNetModel> cns = new LinkedHashMap<>();
            if (Files.isDirectory(folder.resolve("controlnet"))) {
                cns.put("controlnet", ControlNetModel.load(folder.resolve("controlnet"), weights, dtype));
            }
            return new DiffusionPipeline(name, weights, new StableDiffusionFamily(prompts, unet, cns, o.device(),
                    vae.config().downscale(), vae.config().latentChannels()), vae,
                    SchedulerSelection.read(folder.resolve("scheduler/scheduler_config.json")), o.taesd());
        });
    }

    /**
     * An original single-file SD 1.x / 2.x / XL (base or refiner) checkpoint ({@code model.diffusion_model.*},
     * {@code first_stage_model.*}, {@code cond_stage_model.*} or {@code conditioner.embedders.*}), as model sites ship
     * it. The family and every
     * component's hyper-parameters are detected from its keys and shapes ({@link CheckpointDetector}); where
     * {@code o.singleFileConfig()} is a diffusers config folder, each config, tokenizer and the scheduler it holds wins
     * over the detected one, as diffusers' {@code from_single_file(config=...)}. Tokenizers without a config folder:
     * the CLIP vocabulary bundled in the jar when the text encoder has CLIP's 49,408 tokens, else a tokenizer folder
     * {@code <name>.tokenizer/} (and {@code <name>.tokenizer_2/}) or {@code tokenizer/} beside the file.
     */
    public static DiffusionPipeline openSingleFile(Path checkpoint, String name, LoadOptions o) {
        Path config = o.singleFileConfig();
        DataType dtype = o.dtype();
        return FreshWeights.load(o.device(), weights -> {
            try (SafetensorsStateDict file = SafetensorsStateDict.open(checkpoint)) {
                DetectedCheckpoint d = CheckpointDetector.detect(file, checkpoint.toString(), o.predictionType());
                LOG.log(System.Logger.Level.INFO, "{0}: {1}, {2} ({3}){4}", checkpoint.getFileName(),
                        d.family().displayName(), d.predictionType(), d.predictionReason(),
                        config == null ? "" : "; configs from " + config + " where present");
                SingleFileParts parts = new SingleFileParts(checkpoint, config, d);
                // the SDXL refiner has no first encoder (textEncoder() is null)
                ClipTextModel te = d.textEncoder() == null ? null : d.textEncoder().load(parts.textEncoderConfig(1),
                        file, weights, dtype);
                ClipTextModel te2 = d.isSdxl() ? d.textEncoder2().load(parts.textEncoderConfig(2), file, weights,
                        dtype) : null;
                SdPromptEncoder prompts = new SdPromptEncoder(te == null ? null : parts.tokenizer(1), te,
                        d.isSdxl() ? parts.tokenizer(2) : null, te2);
                UNet2DConditionModel unet = UNet2DConditionModel.loadLdm(parts.unetConfig(), file, weights, dtype,
                        checkpoint.getFileName().toString());
                AutoencoderKL vae = Vaes.openSingleFile(parts.vaeConfig(), file, weights, dtype);
                return new DiffusionPipeline(name, weights, new StableDiffusionFamily(prompts, unet, Map.of(),
                        o.device(), vae.config().downscale(), vae.config().latentChannels()), vae, parts.scheduler(o.predictionType()), o.taesd());
            }
        });
    }
}
