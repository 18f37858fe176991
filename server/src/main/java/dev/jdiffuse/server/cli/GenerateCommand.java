package dev.jdiffuse.server.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.server.api.GenerationBody;
import dev.jdiffuse.server.api.GenerationValidator;
import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngEncoder;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.jobs.GenerationParameters;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.loras.LoraLibrary;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelHasher;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.web.ApiException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code generate}: one text-to-image run from the command line, with a progress bar, written as PNG with the same
 * text chunks as the server's images. The request goes through the server's own validator, so defaults, limits and
 * refusals (a 400 there, exit code 2 here, naming the field) are the same as over HTTP.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images from the command line.")
public final class GenerateCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "diffusers pipeline folder or single-file "
            + ".safetensors checkpoint")
    Path model;
    @Option(names = "--config", description = "diffusers config folder for a single-file checkpoint (default: "
            + "<file>.config beside it)")
    Path config;
    @Option(names = "--prompt", required = true, description = "the prompt")
    String prompt;
    @Option(names = "--negative-prompt", description = "negative prompt (default empty)")
    String negativePrompt;
    @Option(names = "--width", description = "image width (default: the model's)")
    Integer width;
    @Option(names = "--height", description = "image height (default: the model's)")
    Integer height;
    @Option(names = "--steps", description = "sampler steps (default: the model's)")
    Integer steps;
    @Option(names = "--sampler", completionCandidates = SamplerNames.class, description = "one of: "
            + "${COMPLETION-CANDIDATES} (default: the model's)")
    String sampler;
    @Option(names = "--schedule", completionCandidates = ScheduleNames.class, description = "one of: "
            + "${COMPLETION-CANDIDATES} (default: default)")
    String schedule;
    @Option(names = "--guidance", description = "classifier-free guidance scale (default: the model's)")
    Double guidance;
    @Option(names = "--guidance-rescale", description = "guidance rescale phi in [0,1] (default 0)")
    Double guidanceRescale;
    @Option(names = "--seed", description = "seed of the torch-compatible noise (default: random, printed)")
    Long seed;
    @Option(names = "--batch", description = "images per run (default 1)")
    Integer batch;
    @Option(names = "--class-label", description = "class index for class-conditional models (DiT)")
    Integer classLabel;
    @Option(names = "--control-image", description = "ControlNet control image (PNG/JPEG)")
    Path controlImage;
    @Option(names = "--controlnet", description = "ControlNet name (default: the model's first)")
    String controlnet;
    @Option(names = "--control-scale", description = "ControlNet conditioning scale (default 1.0)")
    Double controlScale;
    @Option(names = "--control-start", description = "fraction of steps where the ControlNet starts (default 0)")
    Double controlStart;
    @Option(names = "--control-end", description = "fraction of steps where it ends (default 1)")
    Double controlEnd;
    @Option(names = "--init-image", description = "image-to-image: the picture to start from (PNG/JPEG)")
    Path initImage;
    @Option(names = "--strength", description = "image-to-image: how much of the schedule runs over the init image, "
            + "in (0, 1] (default 0.75)")
    Double strength;
    @Option(names = "--subseed", description = "variation seed (default: random when --subseed-strength is given)")
    Long subseed;
    @Option(names = "--subseed-strength", description = "how far toward the variation seed's noise, in [0, 1]")
    Double subseedStrength;
    @Option(names = "--loras", description = "folder of LoRA .safetensors files for the prompt's <lora:name:scale> "
            + "tags (each named after its file)")
    Path loras;

    @Option(names = "--embeddings", description = "folder of textual-inversion embedding .safetensors files, each "
            + "used by writing its name (the file name without extension) in the prompt or negative prompt")
    Path embeddings;
    @Option(names = "--mask", description = "inpainting: the mask (PNG/JPEG, the init image's size; white = repaint)")
    Path mask;
    @Option(names = "--mask-blur", description = "Gaussian blur of the mask in pixels (default 0)")
    Integer maskBlur;
    @Option(names = "--inpaint-full-res", description = "repaint only a crop around the mask at the request's size "
            + "and paste it back (AUTOMATIC1111's 'only masked')")
    Boolean inpaintFullRes;
    @Option(names = "--inpaint-full-res-padding", description = "pixels around the mask for --inpaint-full-res "
            + "(default 32)")
    Integer inpaintFullResPadding;
    @Option(names = "--paste-back", description = "paste the init image's pixels back outside the (blurred) mask")
    Boolean pasteBack;
    @Option(names = "--outpaint", split = ",", paramLabel = "LEFT,RIGHT,TOP,BOTTOM", description = "outpainting: "
            + "pixels added per side of the init image, e.g. 64,64,0,0")
    List<Integer> outpaint;
    @Option(names = "--hires", description = "hires fix (AUTOMATIC1111): generate, upscale, then an image-to-image "
            + "pass; the --hires-* options imply it")
    boolean hires;
    @Option(names = "--hires-scale", description = "hires upscale factor (default 2)")
    Double hiresScale;
    @Option(names = "--hires-width", description = "hires target width (with --hires-height, instead of a scale)")
    Integer hiresWidth;
    @Option(names = "--hires-height", description = "hires target height")
    Integer hiresHeight;
    @Option(names = "--hires-steps", description = "hires pass steps (default 0: the same as --steps)")
    Integer hiresSteps;
    @Option(names = "--hires-strength", description = "hires denoising strength in (0, 1] (default 0.7)")
    Double hiresStrength;
    @Option(names = "--hires-upscaler", description = "latent|latent-nearest|bicubic (default latent)")
    String hiresUpscaler;
    @Option(names = "--aesthetic-score", description = "SDXL refiner: the aesthetic score of the conditional half "
            + "(default 6.0, 0..10)")
    Double aestheticScore;
    @Option(names = "--negative-aesthetic-score", description = "SDXL refiner: the aesthetic score of the "
            + "unconditional half (default 2.5, 0..10)")
    Double negativeAestheticScore;
    @Option(names = "--true-cfg-scale", description = "FLUX: classifier-free guidance against --negative-prompt on "
            + "top of the distilled guidance, as diffusers' true_cfg_scale (default 1 = off; twice the compute)")
    Double trueCfgScale;
    @Option(names = "--discard-penultimate-sigma", description = "compute the schedule for one step more and drop its "
            + "next-to-last level, as ComfyUI's KSampler does for dpm_2/uni_pc and AUTOMATIC1111 for DPM2 and "
            + "DPM++ 3M SDE (still --steps steps, same final level)")
    boolean discardPenultimateSigma;
    @Option(names = "--vae-tiling", description = "auto (default: the VAE decodes whole, and in tiles only where the "
            + "device runs out of memory), always (in tiles wherever the image is larger than one, as diffusers' "
            + "enable_tiling) or never")
    String vaeTiling;
    @Option(names = "--vae-tile-size", description = "VAE tile side in pixels, a multiple of 32 from 64 to 4096 "
            + "(default: the VAE's sample_size, 512 for SD 1.x)")
    Integer vaeTileSize;
    @Option(names = "--clip-skip", description = "CLIP layer from the end whose output conditions the image, as "
            + "AUTOMATIC1111's Clip skip (default 1 = the last)")
    Integer clipSkip;

    @Option(names = "--prompt-syntax", description = "a1111 (default: (word:1.2), [word], BREAK, long prompts in "
            + "75-token chunks) or plain (the text literally)")
    String promptSyntax;

    @Option(names = "--device", defaultValue = "auto", description = "auto|cpu|cuda (default ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--t5-device", description = "SD 3 / 3.5 and FLUX: run the T5 text encoder on this device in "
            + "float32 (e.g. cpu, to fit the model on a smaller GPU; default: with the model)")
    String t5Device;
    @Option(names = "--dtype", defaultValue = "auto", description = "auto|fp32|fp16 (default ${DEFAULT-VALUE}: fp16 "
            + "on CUDA, fp32 on CPU)")
    String dtype;
    @Option(names = "--output", defaultValue = "out.png", description = "output PNG (default ${DEFAULT-VALUE}; a "
            + "batch writes out-0.png, out-1.png, ...)")
    String output;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** The sampler names of the sampler table, for the help text. */
    static final class SamplerNames extends java.util.ArrayList<String> {
        SamplerNames() {
            super(SamplerCatalog.names());
        }
    }

    /** The schedule names of the schedule table, for the help text. */
    static final class ScheduleNames extends java.util.ArrayList<String> {
        ScheduleNames() {
            super(SamplerCatalog.SCHEDULES.stream().map(SamplerCatalog.Schedule::name).toList());
        }
    }

    /** Runs the command with {@code err} for messages; returns the exit code (0 ok, 2 bad request, 1 failure). */
    public static int run(String[] args, PrintStream err) {
        return new CommandLine(new GenerateCommand()).setErr(new PrintWriter(err, true))
                .setOut(new PrintWriter(err, true)).execute(args);
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        long t0 = System.nanoTime();
        try (ImagePipeline pipe = open()) {
            err.printf("loaded %s (%s) in %.1f s%n", pipe.name(), pipe.family(), (System.nanoTime() - t0) / 1e9);
            LoadedModel loaded = new LoadedModel(pipe.name(), pipe, ModelHasher.sha256(model));
            Submission job;
            try {
                job = validate(loaded);
            } catch (ApiException e) {
                String field = e.body().error().field();
                err.println("bad request" + (field == null ? "" : " (" + field + ")") + ": " + e.getMessage());
                return 2;
            }
            ProgressBar bar = new ProgressBar(err);
            GenerationResult res = pipe.generate(job.request(), new GenerationListener() {
                @Override
                public void onStep(int step, int steps, double sigma) {
                    bar.update(step + 1, steps);
                }
            });
            bar.done();
            write(GenerationParameters.of(job, res), res, err);
            err.printf("seed %d, %s/%s, encode %d ms, denoise %d ms, decode %d ms%n", res.seed(), res.sampler(),
                    res.schedule(), res.encodeMillis(), res.denoiseMillis(), res.decodeMillis());
            return 0;
        } catch (RuntimeException e) {
            err.println("generate failed: " + e.getMessage());
            return 1;
        }
    }

    private ImagePipeline open() throws Exception {
        if (config == null) {
            return ModelLoaders.production(t5Device).load(model, device, dtype);
        }
        var d = ModelLoaders.device(device);
        return Pipelines.open(model, new LoadOptions(d, ModelLoaders.dtype(dtype, d), null, config)
                .withT5Device(t5Device == null ? null : ModelLoaders.device(t5Device)));
    }

    /** The options as the API's request body, checked by the same validator as {@code POST /v1/generations}. */
    private Submission validate(LoadedModel loaded) throws IOException {
        UploadStore uploads = new UploadStore(4, Duration.ofHours(1), Clock.systemUTC());
        List<GenerationBody.ControlNetBody> controls = List.of();
        if (controlImage != null) {
            BufferedImage img = readImage(controlImage, "control_image");
            String name = controlnet != null ? controlnet
                    : loaded.pipeline().controlnets().isEmpty() ? "controlnet" : loaded.pipeline().controlnets().get(0);
            controls = List.of(new GenerationBody.ControlNetBody(name, uploads.put(img, "file").id(), controlScale,
                    controlStart, controlEnd));
        }
        String init = null;
        if (initImage != null) {
            init = uploads.put(readImage(initImage, "init_image"), "file").id();
        }
        String maskId = mask == null ? null : uploads.put(readImage(mask, "mask"), "file").id();
        GenerationBody.OutpaintBody pads = null;
        if (outpaint != null) {
            if (outpaint.size() != 4) {
                throw ApiException.invalid("outpaint", "--outpaint takes LEFT,RIGHT,TOP,BOTTOM");
            }
            pads = new GenerationBody.OutpaintBody(outpaint.get(0), outpaint.get(1), outpaint.get(2), outpaint.get(3));
        }
        boolean wantsHires = hires || hiresScale != null || hiresWidth != null || hiresHeight != null
                || hiresSteps != null || hiresStrength != null || hiresUpscaler != null;
        GenerationBody.HiresBody hiresBody = wantsHires ? new GenerationBody.HiresBody(hiresScale, hiresWidth,
                hiresHeight, hiresSteps, hiresStrength, hiresUpscaler) : null;
        GenerationBody body = new GenerationBody(loaded.name(), prompt, negativePrompt, width, height, steps, sampler,
                schedule, guidance, guidanceRescale, seed, batch, classLabel, controls, null, init, strength, subseed,
                subseedStrength, maskId, maskBlur, inpaintFullRes, inpaintFullResPadding, pasteBack, pads, hiresBody, null,
                clipSkip, promptSyntax, aestheticScore, negativeAestheticScore, trueCfgScale,
                discardPenultimateSigma ? Boolean.TRUE : null, vaeTiling, vaeTileSize);
        GenerationValidator validator = new GenerationValidator(new ModelRegistry(List.of(loaded)), uploads,
                Limits.DEFAULTS, loras == null ? LoraLibrary.NONE : new LoraLibrary(loras));
        validator.useEmbeddings(new dev.jdiffuse.server.embeddings.EmbeddingLibrary(embeddings));
        return validator.validate(body);
    }

    private static BufferedImage readImage(Path file, String option) throws IOException {
        BufferedImage img = ImageIO.read(file.toFile());
        if (img == null) {
            throw new ApiException(400, "invalid_value", "not a readable image: " + file, option);
        }
        return img;
    }

    private void write(GenerationParameters params, GenerationResult res, PrintWriter err) throws IOException {
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < res.images().size(); i++) {
            Path out = Path.of(res.images().size() == 1 ? output : output.replaceFirst("(\\.png)?$", "-" + i + ".png"));
            Map<String, String> text = ImageMetadata.pngText(params, res.sigmas(), i, v -> {
                try {
                    return json.writeValueAsString(v);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            Files.write(out, PngEncoder.encode(res.images().get(i), text));
            err.println("wrote " + out.toAbsolutePath());
        }
    }
}
