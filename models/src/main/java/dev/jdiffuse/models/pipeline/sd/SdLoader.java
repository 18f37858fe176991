package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.unet.ControlNetModel;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Opens Stable Diffusion 1.x/2.x/XL as diffusers folders or original single-file checkpoints. */
public final class SdLoader {

    private SdLoader() {
    }

    /**
     * A diffusers pipeline folder ({@code model_index.json}, {@code unet/}, {@code vae/}, {@code text_encoder/},
     * {@code tokenizer/}, {@code scheduler/}, and for SDXL {@code text_encoder_2/}, {@code tokenizer_2/}; an optional
     * {@code controlnet/}).
     */
    public static DiffusionPipeline openFolder(Path folder, String name, Pipelines.Options o) {
        DataType dtype = o.dtype();
        return Pipelines.loading(o.device(), weights -> {
            boolean xl = Files.isDirectory(folder.resolve("text_encoder_2"));
            SdPromptEncoder prompts = new SdPromptEncoder(ClipTokenizer.load(folder.resolve("tokenizer")),
                    ClipTextModel.load(folder.resolve("text_encoder"), weights, dtype),
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
     * An original single-file SD 1.x/2.x checkpoint ({@code model.diffusion_model.*}, {@code first_stage_model.*},
     * {@code cond_stage_model.transformer.*}) with hyper-parameters, tokenizer and scheduler from the diffusers config
     * folder {@code o.singleFileConfig()}, as diffusers' {@code from_single_file(config=...)}; without one, Stable
     * Diffusion 1.5's configs ({@link Sd15Defaults}; the tokenizer then comes from {@code <name>.tokenizer/} or
     * {@code tokenizer/} beside the checkpoint).
     */
    public static DiffusionPipeline openSingleFile(Path checkpoint, String name, Pipelines.Options o) {
        Path tokenizer = o.singleFileConfig() == null ? Sd15Defaults.tokenizerBeside(checkpoint)
                : o.singleFileConfig().resolve("tokenizer");
        Path config = o.singleFileConfig() == null ? Sd15Defaults.configFolder() : o.singleFileConfig();
        DataType dtype = o.dtype();
        return Pipelines.loading(o.device(), weights -> {
            try (SafetensorsStateDict file = SafetensorsStateDict.open(checkpoint)) {
                ClipTokenizer tok = ClipTokenizer.load(tokenizer);
                ClipTextModel te = ClipTextModel.loadSingleFile(
                        ClipTextConfig.read(config.resolve("text_encoder/config.json")), file, weights, dtype);
                UNet2DConditionModel unet = UNet2DConditionModel.loadLdm(
                        UNet2DConditionConfig.read(config.resolve("unet/config.json")), file, weights, dtype,
                        checkpoint.getFileName().toString());
                AutoencoderKL vae = Vaes.openSingleFile(AutoencoderKLConfig.read(config.resolve("vae/config.json")),
                        file, weights, dtype);
                StableDiffusionFamily family = new StableDiffusionFamily(new SdPromptEncoder(tok, te, null, null),
                        unet, Map.of(), o.device(), vae.config().downscale(), vae.config().latentChannels());
                return new DiffusionPipeline(name, weights, family, vae,
                        SchedulerSelection.read(config.resolve("scheduler/scheduler_config.json")), o.taesd());
            }
        });
    }
}
