package dev.jdiffuse.server.jobs;

import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON shapes of a job shared by REST ({@code GET /v1/generations/{id}}) and the WebSocket streams, so both always
 * say the same thing. {@code step} counts completed steps (0..total).
 */
public final class JobViews {

    private final JobManager jobs;

    public JobViews(JobManager jobs) {
        this.jobs = jobs;
    }

    public static String base(Job job) {
        return "/v1/generations/" + job.id();
    }

    public static List<String> imageUrls(Job job) {
        List<String> urls = new ArrayList<>();
        for (int i = 0; i < job.images().size(); i++) {
            urls.add(base(job) + "/images/" + i);
        }
        return urls;
    }

    /** The full record: status, position, progress, timings, resolved parameters, images, error, links. */
    public Map<String, Object> full(Job job) {
        Map<String, Object> m = state(job);
        m.put("parameters", parameters(job));
        m.put("links", links(job));
        return m;
    }

    /** Status, position, progress, timings, image URLs and error (no parameters): what streams send. */
    public Map<String, Object> state(Job job) {
        long now = System.nanoTime();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", job.id());
        m.put("status", job.status().apiName());
        m.put("position", jobs.position(job).orElse(null));
        m.put("step", job.step() + 1);
        m.put("total", job.totalSteps());
        m.put("sigma", Double.isNaN(job.sigma()) ? null : job.sigma());
        m.put("model", job.model().name());
        m.put("created_at", job.createdAt().toString());
        m.put("started_at", job.startedAt() == null ? null : job.startedAt().toString());
        m.put("finished_at", job.finishedAt() == null ? null : job.finishedAt().toString());
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("queued_ms", job.waitMillis(now));
        t.put("run_ms", job.runMillis(now));
        GenerationResult r = job.result();
        if (r != null) {
            t.put("encode_ms", r.encodeMillis());
            t.put("denoise_ms", r.denoiseMillis());
            t.put("decode_ms", r.decodeMillis());
        }
        m.put("timings", t);
        m.put("images", imageUrls(job));
        Job.Error e = job.error();
        m.put("error", e == null ? null : Map.of("code", e.code(), "message", e.message()));
        return m;
    }

    public static Map<String, Object> links(Job job) {
        Map<String, Object> l = new LinkedHashMap<>();
        l.put("self", base(job));
        l.put("stream", base(job) + "/stream");
        l.put("cancel", base(job));
        l.put("images", imageUrls(job));
        return l;
    }

    /** The parameters the job runs with, every default resolved and the seed chosen. */
    public static Map<String, Object> parameters(Job job) {
        GenerationRequest q = job.request();
        GenerationResult r = job.result();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", job.model().name());
        m.put("model_hash", job.model().shortHash());
        m.put("prompt", q.prompt());
        m.put("negative_prompt", q.negativePrompt());
        m.put("width", q.width());
        m.put("height", q.height());
        m.put("steps", q.steps());
        m.put("sampler", r != null ? r.sampler() : q.sampler());
        m.put("schedule", r != null ? r.schedule() : q.schedule());
        m.put("guidance_scale", q.guidanceScale());
        m.put("guidance_rescale", q.guidanceRescale());
        m.put("seed", q.seed());
        m.put("batch_size", q.batchSize());
        m.put("class_label", q.classLabel());
        List<Map<String, Object>> cn = new ArrayList<>();
        for (var c : job.controls()) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("model", c.model());
            e.put("image", c.upload());
            e.put("scale", c.scale());
            e.put("start", c.start());
            e.put("end", c.end());
            cn.add(e);
        }
        m.put("controlnets", cn);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("method", q.preview().method().name().toLowerCase(java.util.Locale.ROOT));
        p.put("every", q.preview().every());
        p.put("max_size", q.preview().maxSize());
        m.put("preview", p);
        m.put("rng", "torch-cpu");
        return m;
    }
}
