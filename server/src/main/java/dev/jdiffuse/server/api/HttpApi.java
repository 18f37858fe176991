package dev.jdiffuse.server.api;

import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.auth.Quotas;
import dev.jdiffuse.server.images.ImageDecoder;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.jobs.CostModel;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.jobs.JobView;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.jobs.QueueFullException;
import dev.jdiffuse.server.embeddings.EmbeddingLibrary;
import dev.jdiffuse.server.loras.LoraLibrary;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelRegistry;
import io.javalin.Javalin;
import io.javalin.http.Context;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.web.BoundedBody;
import dev.jdiffuse.server.web.Json;
import dev.jdiffuse.server.web.StrictInput;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** The REST endpoints of {@code docs/api.md}. Errors are thrown as {@link ApiException} and rendered centrally. */
public final class HttpApi {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HttpApi.class);

    /** At most this many uploads are decoded at once; the rest wait up to {@link #DECODE_WAIT} then get 503. */
    public static final int CONCURRENT_DECODES = 2;
    private static final Duration DECODE_WAIT = Duration.ofSeconds(10);
    /** The Retry-After of a generation refused while the server shuts down: about a restart's time. */
    private static final long SHUTDOWN_RETRY_SECONDS = 10;

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
    private final Quotas quotas;
    private final CostModel cost = new CostModel();
    private volatile double maxJobSeconds;
    private volatile DecodedBudget decoded = new DecodedBudget(Long.MAX_VALUE);
    private final Semaphore decodeSlots = new Semaphore(CONCURRENT_DECODES);
    /** Upload bodies read at once; one more is refused at once, so slow senders cannot hold every thread. */
    private volatile Semaphore bodySlots = new Semaphore(8);
    private final HeldRequests held;
    private final byte[] openApi;
    private final LoraLibrary loras;
    private volatile EmbeddingLibrary embeddings = EmbeddingLibrary.NONE;

    public HttpApi(Json json, Limits limits, ModelRegistry models, JobManager jobs, UploadStore uploads,
            Duration resultTtl, Supplier<String> metrics) {
        this(json, limits, models, jobs, uploads, resultTtl, metrics, new Quotas(java.time.Clock.systemUTC(),
                jobs::activeCount), new LoraLibrary(null));
    }

    public HttpApi(Json json, Limits limits, ModelRegistry models, JobManager jobs, UploadStore uploads,
            Duration resultTtl, Supplier<String> metrics, Quotas quotas, LoraLibrary loras) {
        this.quotas = quotas;
        jobs.onEnd(cost::ended);
        this.json = json;
        this.limits = limits;
        this.models = models;
        this.jobs = jobs;
        this.held = new HeldRequests(jobs);
        this.uploads = uploads;
        this.resultTtl = resultTtl;
        this.metrics = metrics;
        this.loras = loras;
        this.validator = new GenerationValidator(models, uploads, limits, loras);
        this.admission = new Admission(models, validator, json, this::checkCost);
        this.decoder = new ImageDecoder(limits.maxUploadPixels(), limits.maxUploadSide());
        this.openApi = resource("/openapi.json");
    }

    public void register(Javalin app) {
        app.post("/v1/generations", this::submit);
        app.get("/v1/generations", this::list);
        app.get("/v1/generations/{id}", this::show);
        app.delete("/v1/generations/{id}", this::cancel);
        app.get("/v1/generations/{id}/images/{n}", this::image);
        app.post("/v1/uploads", this::upload);
        app.get("/v1/models", this::models);
        app.get("/v1/loras", this::loras);
        app.get("/v1/embeddings", this::embeddings);
        app.get("/v1/samplers", ctx -> ctx.json(Responses.Catalog.of()));
        app.post("/v1/schedule", this::schedule);
        app.get("/v1/openapi.json", ctx -> ctx.contentType("application/json").result(openApi));
        app.get("/v1/whoami", ctx -> {
            Caller c = Authenticator.caller(ctx);
            ctx.json(new Responses.WhoAmI(c.name(), c.admin(), c.maxActive(), c.imagesPerHour(),
                    c.priority().name().toLowerCase(Locale.ROOT)));
        });
        // liveness: a broken device (EngineFailures) needs a new process, which is what a failing liveness check asks
        app.get("/healthz", ctx -> {
            boolean broken = jobs.deviceFailure() != null;
            ctx.status(broken ? 503 : 200).json(new Responses.Health(broken ? "device_failed" : "ok"));
        });
        app.get("/readyz", this::ready);
        app.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                .result(metrics.get()));
    }

    /** Bytes the decoded images of waiting and running jobs hold now. */
    public long decodedBytes() {
        return decoded.used();
    }

    /** Refuses requests estimated to run longer than {@code seconds} (0: no limit), once the model was measured. */
    public void maxJobSeconds(double seconds) {
        maxJobSeconds = seconds;
    }

    /** At most {@code bytes} of decoded upload pixels are held by waiting and running jobs. */
    public void decodedBudget(long bytes) {
        DecodedBudget d = new DecodedBudget(bytes);
        decoded = d;
        jobs.onEnd(job -> d.ended(job.id()));
    }

    /** At most {@code n} upload bodies are read at once; more wait briefly, then get 503 {@code busy}. */
    public void concurrentUploads(int n) {
        bodySlots = new Semaphore(n);
    }

    /**
     * At most {@code n} requests are held until their job ends at once (0: none); beyond it a request's wait is
     * ignored (RFC 7240 lets a server ignore a preference) and the job's state answered at once, so idle connections
     * cannot pile up without bound.
     */
    public void maxHeldRequests(int n) {
        held.max(n);
    }

    /** Whether the server can generate: a model is loaded and every worker runs. */
    public String notReadyReason() {
        if (models.isEmpty()) {
            return "no model is loaded";
        }
        if (!jobs.accepting()) {
            return "the server is shutting down"; // so a load balancer stops sending while running jobs drain
        }
        if (!jobs.workersAlive()) {
            return "the generation worker is not running";
        }
        String device = jobs.noWorkingDevice();
        if (device != null) {
            return "device " + device + " (restart the server)";
        }
        return null;
    }

    private void ready(Context ctx) {
        String reason = notReadyReason();
        ctx.status(reason == null ? 200 : 503).json(new Responses.Readiness(reason == null ? "ready" : "not_ready",
                models.loadedModels().size(), jobs.queueDepth(), reason));
    }

    private GenerationBody parseGeneration(Context ctx) {
        StrictInput.jsonMediaType(ctx.contentType());
        byte[] body = BoundedBody.read(input(ctx), ctx.req().getContentLengthLong(), limits.maxBodyBytes(),
                "the request body");
        StrictInput.utf8Body(body);
        return json.parse(body, GenerationBody.class);
    }

    /**
     * 202 with the queued job's id and links; asked to wait ({@link WaitPreference}), the full job record once the
     * job has ended (201) or the hold has passed (202), so a client needs no polling. Waiting with {@code Accept:
     * image/png} (or {@code image/*}) first, as Stability AI's API takes it, a succeeded job answers its first PNG
     * itself (201, {@code Link} headers to every image), an ended one that did not succeed its error ({@link #failure}).
     */
    private void submit(Context ctx) {
        WaitPreference asked = waitPreference(ctx);
        boolean pngAsked = asked != null && AcceptHeader.prefersPng(ctx.header("Accept"));
        GenerationBody body = parseGeneration(ctx);
        Job job = accept(ctx, body);
        WaitPreference wait = held.reserve(asked); // from here to the hold nothing throws: the place is given back
        boolean png = wait != null && pngAsked;
        ctx.header("Location", JobView.base(job));
        if (wait == null) {
            ctx.status(202).json(new Responses.Accepted(job.id(), job.status().apiName(),
                    jobs.position(job).orElse(null), job.seed(), JobView.links(job)));
            return;
        }
        ctx.header("Preference-Applied", wait.applied());
        held.hold(ctx, job, wait, j -> {
            JobView view = JobView.full(j);
            if (png && view.finishedAt() != null) {
                if (!"succeeded".equals(view.status())) {
                    throw failure(view);
                }
                byte[] first = kept(j, 0); // before any header: a 404 here must not carry the Links
                for (String url : view.images()) {
                    ctx.res().addHeader("Link", "<" + url + ">; rel=\"item\"; type=\"image/png\"");
                }
                sendPng(ctx.status(201), j, 0, first);
                return;
            }
            ctx.status(view.finishedAt() != null ? 201 : 202).json(view);
        });
    }

    /**
     * An ended job that did not succeed, as the error a request that waited for its image gets: a request field at
     * fault 400, a job cancelled by the shutdown or unstarted after --max-queue-seconds 503, by a cancel or its
     * deadline 409, any other failure 500; the
     * job's own code, message and field.
     */
    static ApiException failure(JobView view) {
        JobView.Failure f = view.error();
        String code = f == null ? "generation_failed" : f.code();
        int status = "cancelled".equals(view.status()) ? ("shutdown".equals(code) || "expired".equals(code) ? 503 : 409)
                : f != null && f.field() != null ? 400 : 500;
        return new ApiException(status, code, f == null ? "the generation " + view.status() : f.message(),
                f == null ? null : f.field());
    }

    /** The job's record; asked to wait ({@link WaitPreference}), once it has ended or the hold has passed. */
    private void show(Context ctx) {
        WaitPreference asked = waitPreference(ctx);
        Job job = job(ctx);
        ctx.header("Vary", "Prefer");
        WaitPreference wait = job.status().terminal() ? null : held.reserve(asked);
        if (wait == null) {
            ctx.json(JobView.full(job));
            return;
        }
        ctx.header("Preference-Applied", wait.applied());
        held.hold(ctx, job, wait, j -> ctx.json(JobView.full(j)));
    }

    /** The request's wait, checked even when it will not be honoured ({@link HeldRequests#reserve}); null: none. */
    private WaitPreference waitPreference(Context ctx) {
        return WaitPreference.of(ctx.queryParam("wait"), java.util.Collections.list(ctx.req().getHeaders("Prefer")));
    }

    /** Requests held until their job ends ({@link WaitPreference}) whose answer is not yet ready. */
    public int heldRequests() {
        return held.count();
    }

    /**
     * Waits up to {@code max} for the held requests' answers to be ready (handed to the server, which writes them
     * just after): at shutdown, after the jobs have ended, so that their clients get the ended records before the
     * HTTP server stops.
     */
    public void awaitHeldAnswered(Duration max) {
        held.awaitAnswered(max);
    }

    /**
     * Queues {@code body} for the request's caller: the decoded-image budget, validation ({@link Admission}), the
     * caller's quotas, the queue's fairness. The one way in for {@code POST /v1/generations} and the AUTOMATIC1111
     * routes ({@code dev.jdiffuse.server.sdapi}).
     */
    public Job accept(Context ctx, GenerationBody body) {
        long decodedBytes = DecodedBudget.bytesOf(body, uploads);
        decoded.reserve(decodedBytes, body.initImage() != null ? "init_image" : "controlnets");
        Job job;
        try {
            job = submit(ctx, body);
        } catch (RuntimeException e) {
            decoded.cancel(decodedBytes);
            throw e;
        }
        decoded.assign(job.id(), decodedBytes);
        if (job.status().terminal()) {
            decoded.ended(job.id());
        }
        return job;
    }

    /**
     * Keeps an image sent inline (the A1111 routes' base64) as an upload: checked by the decoder with the upload
     * route's limits and decode slots, held in the upload store (its budget); returns the upload id.
     */
    public UploadStore.Upload storeImage(byte[] encoded) {
        if (encoded.length > limits.maxUploadBytes()) {
            throw BoundedBody.tooLarge(limits.maxUploadBytes(), "the image");
        }
        ImageDecoder.Checked checked;
        acquire(decodeSlots, "too many uploads are being decoded; retry");
        try {
            checked = decoder.check(encoded);
        } finally {
            decodeSlots.release();
        }
        return uploads.put(encoded, checked.width(), checked.height(), checked.format());
    }

    /**
     * Runs {@code decode} holding one of the decode slots {@link #storeImage}'s check takes (503 {@code busy} when
     * none frees in time): for a layer that decodes an image {@link #storeImage} has checked (its declared pixels
     * bounded) in a way the upload store does not, such as the OpenAI edit's mask, whose alpha channel it reads.
     */
    public <T> T decoding(Supplier<T> decode) {
        acquire(decodeSlots, "too many uploads are being decoded; retry");
        try {
            return decode.get();
        } finally {
            decodeSlots.release();
        }
    }

    /** Drops an image kept by {@link #storeImage} once the jobs that read it have ended. */
    public void discardImage(String uploadId) {
        uploads.remove(uploadId);
    }

    /**
     * Reads a request body of at most {@code limit} bytes; at most {@code concurrentUploads} large bodies are read
     * at once (one more is refused at once with 503 {@code busy}).
     */
    public byte[] readLargeBody(Context ctx, long limit, String what) {
        if (ctx.req().getContentLengthLong() > limit) {
            throw BoundedBody.tooLarge(limit, what);
        }
        if (!bodySlots.tryAcquire()) {
            throw new ApiException(503, "busy", "too many large bodies are being received; retry", null, 1L);
        }
        try {
            return BoundedBody.read(input(ctx), ctx.req().getContentLengthLong(), limit, what);
        } finally {
            bodySlots.release();
        }
    }

    public Limits limits() {
        return limits;
    }

    public ModelRegistry models() {
        return models;
    }

    public JobManager jobs() {
        return jobs;
    }

    /** The {@code --embeddings} folder (prompts name its textual-inversion embeddings). */
    public void useEmbeddings(EmbeddingLibrary library) {
        this.embeddings = library;
        validator.useEmbeddings(library);
    }

    public EmbeddingLibrary embeddings() {
        return embeddings;
    }

    public LoraLibrary loras() {
        return loras;
    }

    /** The upload store (the ComfyUI layer reads an uploaded image's pixels to make a mask from a channel). */
    public UploadStore uploads() {
        return uploads;
    }

    public Json json() {
        return json;
    }

    /**
     * Validates now for a loaded model, else accepts the request for its model's load ({@link Admission}); either
     * way the caller's quotas apply and the job is the caller's.
     */
    private Job submit(Context ctx, GenerationBody body) {
        if (!jobs.accepting()) { // before the request is checked: nothing is taken while the server stops
            throw new ApiException(503, "shutting_down", "the server is shutting down", null, SHUTDOWN_RETRY_SECONDS);
        }
        Admission.Ticket ticket = admission.admit(body);
        String reason = notReadyReason();
        if (reason != null) {
            throw new ApiException(503, "not_ready", reason, null);
        }
        Caller caller = Authenticator.caller(ctx);
        Job job = quotas.admit(caller, ticket.images(), jobs.retryAfterSeconds(), () -> {
            try {
                return ticket.submitTo(jobs, caller.name(), caller.priority());
            } catch (QueueFullException e) {
                throw new ApiException(429, "queue_full", e.getMessage(), null, e.retryAfterSeconds());
            } catch (IllegalStateException e) {
                throw new ApiException(503, "shutting_down", e.getMessage(), null, SHUTDOWN_RETRY_SECONDS);
            }
        });
        Submission v = ticket.now();
        if (v != null) {
            LOG.info("job {} accepted for key {}: model {}, {}x{}, {} steps, batch {}", job.id(), caller.name(),
                    v.model().name(), v.request().width(), v.request().height(), v.request().steps(),
                    v.request().batchSize());
        } else {
            LOG.info("job {} accepted for key {}: model {} (not loaded yet: it loads when the job's turn comes)",
                    job.id(), caller.name(), job.modelName());
        }
        return job;
    }

    /**
     * Refuses a request whose estimated run time ({@link CostModel}: measured on this device) exceeds
     * {@code --max-job-seconds}: 400 {@code too_costly} naming the fields that set the cost and the estimate. A
     * request for a model that was not loaded is checked once it loads (its 400 then fails the job).
     */
    private void checkCost(Submission v) {
        if (maxJobSeconds <= 0) {
            return;
        }
        var q = v.request();
        var perUnit = cost.secondsPerUnit(v.model().name(), v.model().pipeline().family());
        if (perUnit.isEmpty()) {
            return;
        }
        double estimate = CostModel.units(q.width(), q.height(), q.stepsRun(), q.batchSize()) * perUnit.getAsDouble();
        if (estimate > maxJobSeconds) {
            throw new ApiException(400, "too_costly", String.format(Locale.ROOT, "estimated %.1f s (width %d x "
                    + "height %d x steps %d x batch_size %d at %.3g s per megapixel-step measured on this server) "
                    + "exceeds the limit of %.1f s; lower width, height, steps or batch_size", estimate, q.width(),
                    q.height(), q.stepsRun(), q.batchSize(), perUnit.getAsDouble(), maxJobSeconds), "steps");
        }
    }

    /** The job the path names, if the caller may see it: another key's job is as unknown as a missing one. */
    private Job job(Context ctx) {
        Caller caller = Authenticator.caller(ctx);
        return jobs.get(ctx.pathParam("id")).filter(j -> caller.mayAccess(j.owner()))
                .orElseThrow(() -> ApiException.notFound("not_found", "no generation with this id (finished ones "
                        + "are kept for " + resultTtl.toSeconds() + " s)"));
    }

    /**
     * The caller's jobs (an admin's: everyone's, or one key's with {@code ?owner=}), newest first, recent ones and
     * the history's; {@code limit} (1..200, default 50) and {@code before} (an ISO instant: older than it) page.
     */
    private void list(Context ctx) {
        Caller caller = Authenticator.caller(ctx);
        String owner = caller.admin() ? ctx.queryParam("owner") : caller.name();
        int limit = 50;
        String l = ctx.queryParam("limit");
        if (l != null) {
            limit = StrictInput.index(l);
            if (limit < 1 || limit > 200) {
                throw ApiException.invalid("limit", "limit must be 1..200");
            }
        }
        java.time.Instant before = null;
        String b = ctx.queryParam("before");
        if (b != null) {
            try {
                before = java.time.Instant.parse(b);
            } catch (java.time.format.DateTimeParseException e) {
                throw ApiException.invalid("before", "before must be an ISO-8601 instant such as "
                        + "2026-01-31T12:00:00Z");
            }
        }
        ctx.json(new Responses.Generations(jobs.list(owner, before, limit).stream().map(JobView::full).toList()));
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
        int n = StrictInput.index(ctx.pathParam("n"));
        if (n < 0 || n >= job.imageCount()) {
            throw ApiException.notFound("not_found", "the generation has no image " + ctx.pathParam("n"));
        }
        sendPng(ctx, job, n, kept(job, n));
    }

    /** The job's PNG {@code n}, or 404 when it is no longer kept. */
    private byte[] kept(Job job, int n) {
        return jobs.image(job, n).orElseThrow(() -> ApiException.notFound("not_found", "image " + n
                + " is no longer kept (the result memory budget dropped it and no output folder holds it)"));
    }

    private void sendPng(Context ctx, Job job, int n, byte[] png) {
        ctx.contentType("image/png").header("X-Content-Type-Options", "nosniff")
                .header("Content-Disposition", "inline; filename=\"" + job.id() + "-" + n + ".png\"")
                .header("Cache-Control", "private, max-age=" + resultTtl.toSeconds()).result(png);
    }

    /**
     * Reads the body (at most {@code concurrentUploads} at once), checks the image by decoding it once at a
     * subsampling (memory in proportion to what was sent, not to the pixels it declares) and keeps it encoded.
     */
    private void upload(Context ctx) {
        byte[] body;
        if (ctx.req().getContentLengthLong() > limits.maxUploadBytes()) {
            throw BoundedBody.tooLarge(limits.maxUploadBytes(), "the upload");
        }
        if (!bodySlots.tryAcquire()) {
            // refused at once: a wait would hold a server thread, which is what slow senders must not get
            throw new ApiException(503, "busy", "too many uploads are being received; retry", null, 1L);
        }
        try {
            body = BoundedBody.read(input(ctx), ctx.req().getContentLengthLong(), limits.maxUploadBytes(),
                    "the upload");
        } finally {
            bodySlots.release();
        }
        ImageDecoder.Checked checked;
        acquire(decodeSlots, "too many uploads are being decoded; retry");
        try {
            checked = decoder.check(body);
        } finally {
            decodeSlots.release();
        }
        UploadStore.Upload u = uploads.put(body, checked.width(), checked.height(), checked.format());
        ctx.status(201).json(new Responses.Upload(u.id(), u.width(), u.height(), u.format(), resultTtl.toSeconds()));
    }

    private static void acquire(Semaphore slots, String busy) {
        try {
            if (!slots.tryAcquire(DECODE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new ApiException(503, "busy", busy, null, 1L);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "busy", "interrupted", null);
        }
    }

    private void models(Context ctx) {
        List<Responses.Model> list = models.list().stream().map(Responses.Model::of).toList();
        ctx.json(Responses.Models.of(models.defaultName().orElse(null), list));
    }

    /** The LoRAs of the {@code --loras} folder (read again, so new files show), with their hashes. */
    private void loras(Context ctx) {
        loras.refresh();
        List<Responses.Lora> list = new ArrayList<>();
        for (LoraLibrary.Entry e : loras.all()) {
            var f = e.file();
            list.add(new Responses.Lora(e.name(), e.hashes().shortHash(), e.hashes().sha256(),
                    f.format().name().toLowerCase(Locale.ROOT), f.family(), List.copyOf(f.targets()), f.rank(),
                    f.modules().size()));
        }
        ctx.json(new Responses.Loras(list));
    }

    /** The textual-inversion embeddings of the {@code --embeddings} folder (read again, so new files show). */
    private void embeddings(Context ctx) {
        List<Responses.Embedding> list = new ArrayList<>();
        embeddings.snapshot().byName().values().forEach(e -> list.add(new Responses.Embedding(e.name(), e.vectors(),
                e.widths(), e.hash())));
        ctx.json(new Responses.Embeddings(list, embeddings.skipped()));
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
