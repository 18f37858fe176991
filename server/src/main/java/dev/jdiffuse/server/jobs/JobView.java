package dev.jdiffuse.server.jobs;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

import java.util.ArrayList;
import java.util.List;

/**
 * A job as REST ({@code GET /v1/generations/{id}}) and the WebSocket streams show it, so both always say the same
 * thing. {@code step} counts completed steps (0..total); {@code device} is the device it was given when it left the
 * queue (absent before, and for jobs read back from the history). Streams send the {@linkplain #state state} (no
 * parameters, no links); REST sends the {@linkplain #full full} record.
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record JobView(String id, String owner, String status, Integer position, int step, int total, Double sigma,
        String model, @JsonInclude(JsonInclude.Include.NON_NULL) String device,
        String createdAt, String startedAt, String finishedAt, Timings timings, List<String> images, Failure error,
        @JsonInclude(JsonInclude.Include.NON_NULL) GenerationParameters parameters,
        @JsonInclude(JsonInclude.Include.NON_NULL) Links links) {

    /**
     * Where the time went, in milliseconds; the pipeline's own split once the job has succeeded: {@code pipelineMs}
     * from the start of the run to the pipeline's return (encode + denoise + decode + the images' host copy), and
     * {@code finishMs} the rest of the run (PNG encoding, writing the files, recording the job).
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Timings(long queuedMs, long runMs, Long encodeMs, Long denoiseMs, Long decodeMs, Long pipelineMs,
            Long finishMs) {
    }

    /** Why a job failed or was cancelled; {@code field} names the request field at fault, when one is. */
    public record Failure(String code, String message, @JsonInclude(JsonInclude.Include.NON_NULL) String field) {
    }

    /** The job's URLs. */
    public record Links(String self, String stream, String cancel, List<String> images) {
    }

    /** Status, position, progress, timings, image URLs and error: what streams send. */
    public static JobView state(Job job) {
        return of(job, false);
    }

    /** The state plus the resolved parameters and links. */
    public static JobView full(Job job) {
        return of(job, true);
    }

    private static JobView of(Job job, boolean full) {
        long now = System.nanoTime();
        Job.Outcome end = job.outcome().orElse(null);
        Job.Timings r = end == null ? null : end.timings();
        long run = job.runMillis(now);
        Long pipeline = r == null ? null : job.pipelineMillis();
        Timings t = new Timings(job.waitMillis(now), run, r == null ? null : r.encodeMillis(),
                r == null ? null : r.denoiseMillis(), r == null ? null : r.decodeMillis(), pipeline,
                pipeline == null ? null : Math.max(0, run - pipeline));
        Job.Error e = end == null ? null : end.error();
        Job.Progress p = job.progress();
        return new JobView(job.id(), job.owner(), job.status().apiName(), job.position().orElse(null), p.step() + 1,
                job.totalSteps(), Double.isNaN(p.sigma()) ? null : p.sigma(), job.modelName(), job.device(),
                job.createdAt().toString(), text(job.startedAt()), text(end == null ? null : end.at()), t,
                imageUrls(job), e == null ? null : new Failure(e.code(), e.message(), e.field()),
                full ? GenerationParameters.of(job) : null, full ? links(job) : null);
    }

    private static String text(Object instant) {
        return instant == null ? null : instant.toString();
    }

    public static String base(Job job) {
        return "/v1/generations/" + job.id();
    }

    public static List<String> imageUrls(Job job) {
        List<String> urls = new ArrayList<>();
        for (int i = 0; i < job.imageCount(); i++) {
            urls.add(base(job) + "/images/" + i);
        }
        return urls;
    }

    public static Links links(Job job) {
        return new Links(base(job), base(job) + "/stream", base(job), imageUrls(job));
    }
}
