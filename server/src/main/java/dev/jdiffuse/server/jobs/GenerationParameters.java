package dev.jdiffuse.server.jobs;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.Outpaint;
import dev.jdiffuse.models.pipeline.VaeTiling;
import dev.jdiffuse.server.models.LoadedModel;

import java.util.List;
import java.util.Locale;

/**
 * The parameters a job runs with, every default resolved and the seed chosen: the one record behind the job view's
 * {@code parameters}, the PNG's JSON metadata and their OpenAPI schema. {@code rng} names the noise source
 * ({@value #RNG_SOURCE}: torch's CPU Mersenne-Twister normal stream, whatever the device).
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record GenerationParameters(String model, String modelFamily, String modelHash, String modelSha256,
        String prompt, String negativePrompt, int width, int height, int steps, String sampler, String schedule,
        double guidanceScale, double guidanceRescale, long seed, String rng, int batchSize, Integer classLabel,
        List<Submission.ControlRef> controlnets, Preview preview, String initImage, Double strength, Long subseed,
        Double subseedStrength, List<Submission.LoraRef> loras, String mask, Integer maskBlur, Boolean inpaintFullRes, Integer inpaintFullResPadding,
        Boolean pasteBack, Outpaint outpaint, Hires hires, int clipSkip, String promptSyntax,
        @JsonInclude(JsonInclude.Include.NON_NULL) Double aestheticScore,
        @JsonInclude(JsonInclude.Include.NON_NULL) Double negativeAestheticScore,
        @JsonInclude(JsonInclude.Include.NON_NULL) Double trueCfgScale,
        @JsonInclude(JsonInclude.Include.NON_EMPTY) List<Submission.EmbeddingRef> embeddings,
        @JsonInclude(JsonInclude.Include.NON_NULL) Boolean discardPenultimateSigma,
        @JsonInclude(JsonInclude.Include.NON_NULL) String vaeTiling,
        @JsonInclude(JsonInclude.Include.NON_NULL) Integer vaeTileSize) {

    public static final String RNG_SOURCE = "torch-cpu";

    /** How previews are streamed: method (none, rgb, taesd, latent), every N steps, long side at most max_size. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Preview(String method, int every, int maxSize) {
    }

    /** The hires fix as run: the target size, the factor A1111 records, steps (0: the request's), strength. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Hires(double scale, int width, int height, int steps, double strength, String upscaler) {
    }

    /** The job's parameters; the sampler and schedule the pipeline resolved once it has run. */
    public static GenerationParameters of(Job job) {
        return job.parameters();
    }

    public static GenerationParameters of(Submission s, GenerationResult result) {
        LoadedModel model = s.model();
        GenerationRequest q = s.request();
        List<Submission.ControlRef> controls = s.controls();
        String initImage = s.initImage();
        var p = q.preview();
        var in = q.inpaint();
        var h = q.hires();
        // the aesthetic scores condition only the SDXL refiner; recorded for it alone
        boolean refiner = "sdxl_refiner".equals(model.pipeline().family());
        // true CFG exists only for the guidance-distilled FLUX models; recorded for them alone
        boolean flux = "flux".equals(model.pipeline().family());
        return new GenerationParameters(model.name(), model.pipeline().family(), model.shortHash(), model.sha256(),
                q.prompt(), q.negativePrompt(), q.width(), q.height(), q.steps(),
                result != null ? result.sampler() : q.sampler(), result != null ? result.schedule() : q.schedule(),
                q.guidanceScale(), q.guidanceRescale(), q.seed(), RNG_SOURCE, q.batchSize(), q.classLabel(), controls,
                new Preview(p.method().name().toLowerCase(Locale.ROOT), p.every(), p.maxSize()), initImage,
                q.init() == null ? null : q.init().strength(), q.variation() == null ? null : q.variation().subseed(),
                q.variation() == null ? null : q.variation().strength(), s.loras(), s.mask(), in == null ? null : in.blur(),
                in == null ? null : in.onlyMasked(), in == null || !in.onlyMasked() ? null : in.padding(),
                in == null ? null : in.pasteBack(), s.outpaint(), h == null ? null : new Hires(h.scale(), h.width(),
                        h.height(), h.steps(), h.strength(), h.upscaler()), q.clipSkip(),
                q.promptSyntax().apiName(), refiner ? q.aesthetics().score() : null,
                refiner ? q.aesthetics().negativeScore() : null, flux ? q.trueCfgScale() : null, s.embeddings(),
                // recorded only when on, so the parameters of every other job read as before
                q.discardPenultimateSigma() ? Boolean.TRUE : null,
                // likewise the VAE's tiling, recorded where it is not the default (auto, the VAE's tile size)
                q.vaeTiling().mode() == VaeTiling.Mode.AUTO ? null : q.vaeTiling().mode().name().toLowerCase(Locale.ROOT),
                q.vaeTiling().tileSize() == 0 ? null : q.vaeTiling().tileSize());
    }
}
