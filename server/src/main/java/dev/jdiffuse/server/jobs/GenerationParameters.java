package dev.jdiffuse.server.jobs;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
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
        Double subseedStrength, int clipSkip, String promptSyntax) {

    public static final String RNG_SOURCE = "torch-cpu";

    /** How previews are streamed: method (none, rgb, taesd, latent), every N steps, long side at most max_size. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Preview(String method, int every, int maxSize) {
    }

    /** The job's parameters; the sampler and schedule the pipeline resolved once it has run. */
    public static GenerationParameters of(Job job) {
        return job.parameters();
    }

    public static GenerationParameters of(LoadedModel model, GenerationRequest q, List<Submission.ControlRef> controls,
            String initImage, GenerationResult result) {
        var p = q.preview();
        return new GenerationParameters(model.name(), model.pipeline().family(), model.shortHash(), model.sha256(),
                q.prompt(), q.negativePrompt(), q.width(), q.height(), q.steps(),
                result != null ? result.sampler() : q.sampler(), result != null ? result.schedule() : q.schedule(),
                q.guidanceScale(), q.guidanceRescale(), q.seed(), RNG_SOURCE, q.batchSize(), q.classLabel(), controls,
                new Preview(p.method().name().toLowerCase(Locale.ROOT), p.every(), p.maxSize()), initImage,
                q.init() == null ? null : q.init().strength(), q.variation() == null ? null : q.variation().subseed(),
                q.variation() == null ? null : q.variation().strength(), q.clipSkip(), q.promptSyntax().apiName());
    }
}
