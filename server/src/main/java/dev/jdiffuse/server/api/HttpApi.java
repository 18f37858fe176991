package dev.jdiffuse.server.api;

import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.server.images.ImageDecoder;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.jobs.JobView;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.jobs.QueueFullException;
import dev.jdiffuse.server.models.ModelRegistry;
import io.javalin.Javalin;
import io.javalin.http.Context;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.web.BoundedBody;
import dev.jdiffuse.server.web.Json;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** The REST endpoints of {@code docs/api.md}. Errors are thrown as {@link ApiException} and rendered centrally. */
public final class HttpApi {

    /** At most this many uploads are decoded at once; the rest wait up to {@link #DECODE_WAIT} then get 503. */
    public static final int CONCURRENT_DECODES = 2;
    private static final Duration DECODE_WAIT = Duration.ofSeconds(10);

    private final Json json;
    private final Limits limits;
    private final ModelRegistry models;
    private final GenerationValidator validator;
    private final Admission admission;
    private final JobManager jobs;
    private final UploadStore uploads;
    private final ImageDecoder decoder;
    private final Duration resultTtl;
    private final Supplier<String> metrics;
    private final Semaphore decodeSlots = new Semaphore(CONCURRENT_DECODES);
    private final byte[] openApi;

    public HttpApi(Json json, Limits limits, ModelRegistry models, JobManager jobs, UploadStore uploads,
            Duration resultTtl, Supplier<String> metrics) {
        this.json = json;
        this.limits = limits;
        this.models = models;
        this.jobs = jobs;
        this.uploads = uploads;
        this.resultTtl = resultTtl;
        this.metrics = metrics;
        this.validator = new GenerationValidator(models, uploads, limits);
        this.admission = new Admission(models, validator, json);
        this.decoder = new ImageDecoder(limits.maxUploadPixels(), limits.maxUploadSide());
        this.openApi = resource("/openapi.json");
    }

    public void register(Javalin app) {
        app.post("/v1/generations", this::submit);
        app.get("/v1/generations/{id}", ctx -> ctx.json(JobView.full(job(ctx))));
        app.delete("/v1/generations/{id}", this::cancel);
        app.get("/v1/generations/{id}/images/{n}", this::image);
        app.post("/v1/uploads", this::upload);
        app.get("/v1/models", this::models);
        app.get("/v1/samplers", ctx -> ctx.json(Responses.Catalog.of()));
        app.post("/v1/schedule", this::schedule);
        app.get("/v1/openapi.json", ctx -> ctx.contentType("application/json").result(openApi));
        app.get("/healthz", ctx -> ctx.json(new Responses.Health("ok")));
        app.get("/readyz", this::ready);
        app.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                .result(metrics.get()));
    }

    /** Whether the server can generate: a model is loaded and every worker runs. */
    public String notReadyReason() {
        if (models.isEmpty()) {
            return "no model is loaded";
        }
        if (!jobs.workersAlive()) {
            return "the generation worker is not running";
        }
        return null;
    }

    private void ready(Context ctx) {
        String reason = notReadyReason();
        ctx.status(reason == null ? 200 : 503).json(new Responses.Readiness(reason == null ? "ready" : "not_ready",
                models.loadedModels().size(), jobs.queueDepth(), reason));
    }

    private GenerationBody parseGeneration(Context ctx) {
        String type = ctx.contentType();
        if (type != null && !type.toLowerCase(Locale.ROOT).startsWith("application/json")) {
            throw new ApiException(415, "unsupported_media_type", "send the body as application/json", null);
        }
        byte[] body = BoundedBody.read(input(ctx), ctx.req().getContentLengthLong(), limits.maxBodyBytes(),
                "the request body");
        return json.parse(body, GenerationBody.class);
    }

    private void submit(Context ctx) {
        Admission.Ticket ticket = admission.admit(parseGeneration(ctx));
        String reason = notReadyReason();
        if (reason != null) {
            throw new ApiException(503, "not_ready", reason, null);
        }
        Job job;
        try {
            job = ticket.submitTo(jobs);
        } catch (QueueFullException e) {
            throw new ApiException(429, "queue_full", e.getMessage(), null, e.retryAfterSeconds());
        } catch (IllegalStateException e) {
            throw new ApiException(503, "shutting_down", e.getMessage(), null);
        }
        ctx.status(202).header("Location", JobView.base(job)).json(new Responses.Accepted(job.id(),
                job.status().apiName(), jobs.position(job).orElse(null), job.seed(),
                JobView.links(job)));
    }

    private Job job(Context ctx) {
        return jobs.get(ctx.pathParam("id")).orElseThrow(() -> ApiException.notFound("not_found",
                "no generation with this id (finished ones are kept for " + resultTtl.toSeconds() + " s)"));
    }

    private void cancel(Context ctx) {
        Job job = job(ctx);
        switch (jobs.cancel(job)) {
            case CANCELLED -> ctx.status(200).json(JobView.full(job));
            case CANCELLING -> ctx.status(202).json(JobView.full(job));
            case ALREADY_ENDED -> {
                if (job.status() != JobStatus.CANCELLED) {
                    throw new ApiException(409, "already_finished", "the generation already ended as "
                            + job.status().apiName(), null);
                }
                ctx.status(200).json(JobView.full(job));
            }
        }
    }

    private void image(Context ctx) {
        Job job = job(ctx);
        if (!job.status().terminal()) {
            throw new ApiException(409, "not_finished", "the generation is still " + job.status().apiName(), null);
        }
        int n;
        try {
            n = Integer.parseInt(ctx.pathParam("n"));
        } catch (NumberFormatException e) {
            n = -1;
        }
        List<byte[]> images = job.images();
        if (n < 0 || n >= images.size()) {
            throw ApiException.notFound("not_found", "the generation has no image " + ctx.pathParam("n"));
        }
        ctx.contentType("image/png").header("X-Content-Type-Options", "nosniff")
                .header("Content-Disposition", "inline; filename=\"" + job.id() + "-" + n + ".png\"")
                .header("Cache-Control", "private, max-age=" + resultTtl.toSeconds()).result(images.get(n));
    }

    private void upload(Context ctx) {
        byte[] body = BoundedBody.read(input(ctx), ctx.req().getContentLengthLong(), limits.maxUploadBytes(),
                "the upload");
        ImageDecoder.Decoded decoded;
        try {
            if (!decodeSlots.tryAcquire(DECODE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new ApiException(503, "busy", "too many uploads are being decoded; retry", null);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "busy", "interrupted", null);
        }
        try {
            decoded = decoder.decode(body);
        } finally {
            decodeSlots.release();
        }
        UploadStore.Upload u = uploads.put(decoded.image(), decoded.format());
        ctx.status(201).json(new Responses.Upload(u.id(), decoded.image().getWidth(), decoded.image().getHeight(),
                decoded.format(), resultTtl.toSeconds()));
    }

    private void models(Context ctx) {
        List<Responses.Model> list = models.list().stream().map(Responses.Model::of).toList();
        ctx.json(new Responses.Models(models.defaultName().orElse(null), list));
    }

    /** A dry run: the sigmas and timesteps the request would visit (the model's check has passed). */
    private void schedule(Context ctx) {
        Submission v = validator.validate(parseGeneration(ctx));
        SamplingSchedule s = v.model().pipeline().schedule(v.request());
        ctx.json(new Responses.Schedule(v.model().name(), v.request().sampler(), v.request().schedule(), s.steps(),
                s.sigmas(), s.timesteps(), s.initNoiseSigma()));
    }

    private static InputStream input(Context ctx) {
        try {
            return ctx.req().getInputStream();
        } catch (IOException e) {
            throw new ApiException(400, "bad_request", "the request body could not be read", null);
        }
    }

    private static byte[] resource(String name) {
        try (InputStream in = HttpApi.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing class-path resource " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
