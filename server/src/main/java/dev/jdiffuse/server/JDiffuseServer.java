package dev.jdiffuse.server;

import dev.jdiffuse.models.nn.InferenceThreads;
import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.auth.ApiKeys;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Quotas;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.web.Json;
import dev.jdiffuse.server.web.JsonErrorHandler;
import dev.jdiffuse.server.web.SecurityHeaders;
import dev.jdiffuse.server.web.StrictPathFilter;
import jakarta.servlet.DispatcherType;
import org.eclipse.jetty.servlet.FilterHolder;
import dev.jdiffuse.server.api.OriginGuard;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngEncoder;
import dev.jdiffuse.server.images.ImageDecoder;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.openai.OpenAiError;
import dev.jdiffuse.server.openai.OpenAiRoutes;
import dev.jdiffuse.server.jobs.JobStore;
import dev.jdiffuse.server.jobs.JobView;
import dev.jdiffuse.server.notify.Webhook;
import dev.jdiffuse.server.storage.OutputStore;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.GenerationParameters;
import dev.jdiffuse.server.jobs.ResultEncoder;
import dev.jdiffuse.server.loras.LoraLibrary;
import dev.jdiffuse.server.metrics.ServerMetrics;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.stream.StreamHub;
import dev.jdiffuse.server.stream.StreamRoutes;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.javalin.http.staticfiles.Location;
import io.javalin.json.JavalinJackson;
import io.javalin.router.ParsedEndpoint;
import io.javalin.websocket.WsHandlerType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

/**
 * The HTTP/WebSocket server over a {@link ModelRegistry}: REST API ({@link HttpApi}), streams ({@link StreamRoutes}),
 * job workers per device ({@link JobManager}), metrics, and the browser UI's static files from the class-path
 * folder {@code /web} at {@code /}. The server never touches tensors: it talks to models only through
 * {@code ImagePipeline}.
 */
public final class JDiffuseServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(JDiffuseServer.class);
    private static final String API_ERROR = ApiException.RENDERED;

    private final ServerOptions options;
    private final ModelRegistry models;
    private final Json json;
    private final ServerMetrics metrics = new ServerMetrics();
    private final JobManager jobs;
    private final StreamHub hub;
    private final HttpApi api;
    private final Javalin app;
    private final Authenticator auth;
    private final JobStore store;
    /** The operator's webhook, or null. */
    private final Webhook webhook;

    /**
     * @throws IllegalArgumentException when the options are unsafe (beyond loopback without keys and without
     *     {@code --insecure-no-auth}) or the key file is malformed or unreadable
     */
    public JDiffuseServer(ServerOptions options, ModelRegistry models) {
        this.options = options;
        this.auth = new Authenticator(loadKeys(options));
        this.models = models;
        Limits limits = options.limits();
        this.json = new Json(limits.maxPromptChars());
        this.jobs = new JobManager(options.queueSize(), options.resultTtl(), options.batching().images(),
                models.devices(), metrics, encoder(), Clock.systemUTC());
        shareForwards(options.batching());
        // each worker thread makes its cuBLAS/cuDNN state on its GPU before its first job (InferenceThreads.warm)
        jobs.onWorkerStart(label -> InferenceThreads.warm(ModelLoaders.device(label)));
        this.hub = new StreamHub(json::write);
        jobs.listen(hub);
        jobs.useModels(models);
        metrics.bind(jobs::queueDepth, hub::connections, hub::queuedBytes);
        metrics.bindDevices(models.devices(), jobs::runningJobs, jobs::runningImages, models::loadedCount);
        Safety safety = options.safety();
        this.store = openStore(safety.outputDir());
        jobs.store(store);
        jobs.resultBudget(safety.resultBudgetBytes());
        jobs.maxRun(safety.maxJobSeconds() > 0 ? Duration.ofMillis((long) (safety.maxJobSeconds() * 1000)) : null);
        jobs.maxQueueWait(safety.maxQueueWait());
        UploadStore uploads = new UploadStore(256, safety.uploadBudgetBytes(), options.resultTtl(),
                Clock.systemUTC(), new ImageDecoder(limits.maxUploadPixels(), limits.maxUploadSide()));
        this.api = new HttpApi(json, limits, models, jobs, uploads, options.resultTtl(), metrics::scrape,
                new Quotas(Clock.systemUTC(), jobs::activeCount), new LoraLibrary(options.loras()));
        api.useEmbeddings(new dev.jdiffuse.server.embeddings.EmbeddingLibrary(options.embeddings()));
        api.decodedBudget(safety.decodedBudgetBytes());
        api.maxJobSeconds(safety.maxJobSeconds());
        metrics.bindBudgets(uploads::bytes, jobs::heldResultBytes, api::decodedBytes);
        metrics.bindHeldRequests(api::heldRequests);
        metrics.bindDeviceFailure(jobs::failedDevices);
        this.webhook = webhook(options);
        if (webhook != null) {
            // the job as GET /v1/generations/{id} shows it, serialised on the ending thread, sent on the webhook's
            jobs.onEnd(job -> webhook.send("job.finished", json.write(java.util.Map.of("event", "job.finished",
                    "job", JobView.full(job)))));
        }
        api.concurrentUploads(safety.concurrentUploads());
        api.maxHeldRequests(safety.maxHeldRequests());
        OriginGuard guard = new OriginGuard(options.host());
        this.app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.http.maxRequestSize = Math.max(limits.maxBodyBytes(), limits.maxUploadBytes());
            config.jsonMapper(new JavalinJackson(json.mapper(), false));
            config.staticFiles.add(sf -> {
                sf.hostedPath = "/";
                sf.directory = "/web";
                sf.location = Location.CLASSPATH;
            });
            config.jetty.modifyServer(server -> server.setErrorHandler(new JsonErrorHandler()));
            // slow senders: a body must keep coming at 1 KiB/s on average, and never pause longer than the body
            // timeout (the connector's idle timeout, set at start), so none can hold a thread for long; requests are
            // handled as soon as their headers are in (Jetty's default waits for the first body bytes, so a bare
            // over-limit Content-Length would be answered only after the idle timeout)
            config.jetty.modifyHttpConfiguration(hc -> {
                hc.setMinRequestDataRate(1024);
                hc.setDelayDispatchUntilContent(false);
            });
            config.jetty.modifyServletContextHandler(h -> {
                h.setErrorHandler(new JsonErrorHandler());
                h.addFilter(new FilterHolder(new StrictPathFilter()), "/*", EnumSet.of(DispatcherType.REQUEST));
            });
            config.jetty.modifyWebSocketServletFactory(f -> {
                f.setIdleTimeout(Duration.ofSeconds(60));
                f.setMaxTextMessageSize(64 * 1024);
                f.setMaxBinaryMessageSize(64 * 1024);
            });
        });
        app.before(ctx -> {
            SecurityHeaders.apply(ctx::header);
            guard.check(ctx);
            auth.check(ctx, false);
        });
        app.wsBeforeUpgrade(ctx -> {
            SecurityHeaders.apply(ctx::header);
            guard.check(ctx);
            auth.check(ctx, true);
        });
        api.register(app);
        new dev.jdiffuse.server.sdapi.SdApiRoutes(api).register(app);
        new OpenAiRoutes(api).register(app);
        new dev.jdiffuse.server.comfy.ComfyRoutes(api, auth).register(app);
        new StreamRoutes(hub, jobs, json, metrics, auth).register(app);
        app.exception(ApiException.class, this::renderError);
        app.exception(HttpResponseException.class, (e, ctx) -> renderError(new ApiException(e.getStatus(),
                httpCode(e.getStatus()), e.getMessage(), null), ctx));
        app.exception(Exception.class, (e, ctx) -> {
            LOG.error("unexpected error on {} {}", ctx.method(), ctx.path(), e);
            renderError(new ApiException(500, "internal", "internal error; the server log has the details", null),
                    ctx);
        });
        app.error(404, ctx -> {
            if (ctx.attribute(API_ERROR) == null) {
                renderError(new ApiException(404, "not_found", "no such endpoint: " + ctx.method() + " "
                        + ctx.path(), null), ctx);
            }
        });
    }

    /**
     * The output folder's store (after recording what a killed process left unfinished), its records written by a
     * thread of their own ({@link dev.jdiffuse.server.storage.QueuedHistory}), or memory only.
     */
    private static JobStore openStore(java.nio.file.Path dir) {
        if (dir == null) {
            return JobStore.NONE;
        }
        try {
            OutputStore s = OutputStore.open(dir);
            int left = s.cancelUnfinished(java.time.Instant.now());
            if (left > 0) {
                LOG.warn("{} job(s) left queued or running by the last run are recorded as cancelled (shutdown)",
                        left);
            }
            LOG.info("finished images and the job history are kept in {}", s.root());
            return new dev.jdiffuse.server.storage.QueuedHistory(s);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("--output-dir " + dir + ": " + e.getMessage(), e);
        }
    }

    private static ApiKeys loadKeys(ServerOptions options) {
        Safety s = options.safety();
        if (s.apiKeys() == null) {
            if (!options.loopbackOnly() && !s.insecureNoAuth()) {
                throw new IllegalArgumentException("--host " + options.host() + " listens beyond loopback: give "
                        + "--api-keys FILE (java -jar jdiffuse-server.jar hash-key NAME makes a key), or "
                        + "--insecure-no-auth to let anyone who reaches the port use the server");
            }
            if (!options.loopbackOnly()) {
                LOG.warn("--insecure-no-auth: anyone who can reach {}:{} can use this server", options.host(),
                        options.port());
            }
            return null;
        }
        try {
            ApiKeys keys = ApiKeys.load(s.apiKeys());
            LOG.info("{} API key(s) loaded from {}", keys.size(), s.apiKeys());
            return keys;
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("--api-keys " + s.apiKeys() + " cannot be read: " + e.getMessage());
        }
    }

    /**
     * Each model's batcher, when first used, takes the forward size and window (the window also bounds the decoding
     * of jobs that finish together), its gatherer the decoding size, and both report to the device's metrics.
     */
    /** The operator's webhook ({@code --webhook-url}), its secret read once, or null. */
    private static Webhook webhook(ServerOptions options) {
        if (options.webhookUrl() == null) {
            return null;
        }
        byte[] secret = null;
        if (options.webhookSecret() != null) {
            try {
                secret = java.nio.file.Files.readString(options.webhookSecret()).strip()
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("--webhook-secret-file " + options.webhookSecret()
                        + " cannot be read: " + e.getMessage());
            }
            if (secret.length == 0) {
                throw new IllegalArgumentException("--webhook-secret-file " + options.webhookSecret() + " is empty");
            }
        }
        LOG.info("finished jobs are POSTed to {}{}", options.webhookUrl(), secret == null ? "" : " (signed)");
        return new Webhook(options.webhookUrl(), secret, Duration.ofSeconds(1), Duration.ofSeconds(10));
    }

    private void shareForwards(ServerOptions.Batching batching) {
        jobs.onBatcher((device, b) -> {
            b.configure(batching.images(), batching.window());
            b.observe(metrics.batches(device));
            b.gatherer().limit(batching.decodeImages());
            b.gatherer().observe(metrics.decodes(device));
        });
    }

    private static String httpCode(int status) {
        return switch (status) {
            case 404 -> "not_found";
            case 405 -> "method_not_allowed";
            case 413 -> "too_large";
            default -> "http_" + status;
        };
    }

    /**
     * Builds the JSON serializers a finished job needs (the parameters its PNG carries, its record), which Jackson
     * otherwise builds on the first job's path: 14 of the 22 ms from that job's pipeline return to its PNG on the
     * 2-core CI machine, 0.5 ms for the next jobs.
     */
    private void warmJson() {
        json.mapper().canSerialize(ImageMetadata.Record.class);
        json.mapper().canSerialize(dev.jdiffuse.server.jobs.JobView.class);
    }

    private ResultEncoder encoder() {
        return (job, result) -> {
            List<byte[]> pngs = new ArrayList<>();
            List<BufferedImage> images = result.images();
            for (int i = 0; i < images.size(); i++) {
                pngs.add(PngEncoder.encode(images.get(i), ImageMetadata.pngText(
                        GenerationParameters.of(job.submission(), result), result.sigmas(), i, json::write)));
            }
            return pngs;
        };
    }

    private void renderError(ApiException e, Context ctx) {
        if (OpenAiRoutes.owns(ctx.path())) {
            // OpenAI clients read OpenAI's error shape, also for the filters' refusals (401, 403, 429, 404)
            OpenAiRoutes.render(OpenAiError.of(e, "guidance_scale"), ctx);
            return;
        }
        ctx.attribute(API_ERROR, Boolean.TRUE);
        if (e.retryAfterSeconds() != null) {
            ctx.header("Retry-After", Long.toString(e.retryAfterSeconds()));
        }
        if (e.status() == 413 || e.status() == 408) {
            // the rest of the body will not be read: close after the answer rather than drain it
            ctx.header("Connection", "close");
        }
        ctx.status(e.status()).json(e.body());
    }

    public JDiffuseServer start() {
        Thread png = new Thread(() -> {
            PngEncoder.warmUp();
            warmJson();
        }, "jdiffuse-png-warm-up");
        png.setDaemon(true);
        png.start();
        jobs.start();
        app.start(options.host(), options.port());
        for (var c : app.jettyServer().server().getConnectors()) {
            if (c instanceof org.eclipse.jetty.server.AbstractConnector ac) {
                ac.setIdleTimeout(options.safety().bodyTimeout().toMillis());
            }
        }
        LOG.info("jdiffuse {} listening on http://{}:{}/ with {} model(s); ready: {}", ImageMetadata.VERSION,
                options.host(),
                port(), models.list().size(), api.notReadyReason() == null ? "yes" : api.notReadyReason());
        return this;
    }

    /**
     * Every route the server registered, as {@code "GET /v1/models"} (HTTP endpoints, filters excluded) or
     * {@code "WS /v1/stream"} (WebSocket upgrades), so the API documents can be checked against what really runs.
     */
    public List<String> routes() {
        var router = app.unsafeConfig().pvt.internalRouter;
        List<String> out = new ArrayList<>();
        router.allHttpHandlers().stream().map(ParsedEndpoint::getEndpoint)
                .filter(e -> e.getMethod().isHttpMethod())
                .forEach(e -> out.add(e.getMethod().name() + " " + e.getPath()));
        router.allWsHandlers().stream().filter(w -> w.getType() == WsHandlerType.WEBSOCKET)
                .forEach(w -> out.add("WS " + w.getPath()));
        return out;
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return app.port();
    }

    public JobManager jobs() {
        return jobs;
    }

    public StreamHub hub() {
        return hub;
    }

    /**
     * Stops: new jobs are refused at once (503), waiting ones are recorded as cancelled (reason {@code shutdown}), the
     * running one may finish within the shutdown grace and is cancelled after it; then the streams, the HTTP server,
     * the history and the models close.
     */
    @Override
    public void close() {
        jobs.close(options.safety().shutdownGrace());
        // every job has ended: the requests held for them get their records before the HTTP server stops
        api.awaitHeldAnswered(Duration.ofSeconds(2));
        if (webhook != null) {
            webhook.close(options.safety().shutdownGrace());
        }
        hub.close();
        app.stop();
        store.close();
        metrics.close();
        models.close();
    }
}
