package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.web.Json;
import dev.jdiffuse.server.api.OriginGuard;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngEncoder;
import dev.jdiffuse.server.images.UploadStore;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.GenerationParameters;
import dev.jdiffuse.server.jobs.ResultEncoder;
import dev.jdiffuse.server.metrics.ServerMetrics;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.stream.StreamHub;
import dev.jdiffuse.server.stream.StreamRoutes;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
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
import java.util.List;
import java.util.Set;

/**
 * The HTTP/WebSocket server over a {@link ModelRegistry}: REST API ({@link HttpApi}), streams ({@link StreamRoutes}),
 * one job worker per device ({@link JobManager}), metrics, and the browser UI's static files from the class-path
 * folder {@code /web} at {@code /}. The server never touches tensors: it talks to models only through
 * {@code ImagePipeline}.
 */
public final class JDiffuseServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(JDiffuseServer.class);
    private static final Set<HandlerType> SAFE = Set.of(HandlerType.GET, HandlerType.HEAD, HandlerType.OPTIONS);
    private static final String API_ERROR = "jdiffuse.api-error";

    private final ServerOptions options;
    private final ModelRegistry models;
    private final Json json;
    private final ServerMetrics metrics = new ServerMetrics();
    private final JobManager jobs;
    private final StreamHub hub;
    private final HttpApi api;
    private final Javalin app;

    public JDiffuseServer(ServerOptions options, ModelRegistry models) {
        this.options = options;
        this.models = models;
        Limits limits = options.limits();
        this.json = new Json(limits.maxPromptChars());
        this.jobs = new JobManager(options.queueSize(), options.resultTtl(), options.batching().images(), metrics,
                encoder(), Clock.systemUTC());
        shareForwards(options.batching());
        this.hub = new StreamHub(json::write);
        jobs.listen(hub);
        metrics.bind(jobs::queueDepth, hub::connections, hub::queuedBytes);
        UploadStore uploads = new UploadStore(256, options.resultTtl(), Clock.systemUTC());
        this.api = new HttpApi(json, limits, models, jobs, uploads, options.resultTtl(), metrics::scrape);
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
            config.jetty.modifyWebSocketServletFactory(f -> {
                f.setIdleTimeout(Duration.ofSeconds(60));
                f.setMaxTextMessageSize(64 * 1024);
                f.setMaxBinaryMessageSize(64 * 1024);
            });
        });
        app.before(ctx -> {
            if (!SAFE.contains(ctx.method())) {
                guard.check(ctx);
            }
        });
        app.wsBeforeUpgrade(guard::check);
        api.register(app);
        new StreamRoutes(hub, jobs, json, metrics).register(app);
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

    /** Each model's batcher takes the forward size and window, and reports to the metrics. */
    private void shareForwards(ServerOptions.Batching batching) {
        models.all().stream().map(m -> m.pipeline().stepBatcher()).filter(java.util.Objects::nonNull).forEach(b -> {
            b.configure(batching.images(), batching.window());
            b.observe(metrics);
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

    private ResultEncoder encoder() {
        return (job, result) -> {
            List<byte[]> pngs = new ArrayList<>();
            List<BufferedImage> images = result.images();
            for (int i = 0; i < images.size(); i++) {
                pngs.add(PngEncoder.encode(images.get(i), ImageMetadata.pngText(
                        GenerationParameters.of(job.submission().model(), job.submission().request(),
                                job.submission().controls(), job.submission().initImage(), result), result.sigmas(), i,
                        json::write)));
            }
            return pngs;
        };
    }

    private void renderError(ApiException e, Context ctx) {
        ctx.attribute(API_ERROR, Boolean.TRUE);
        if (e.retryAfterSeconds() != null) {
            ctx.header("Retry-After", Long.toString(e.retryAfterSeconds()));
        }
        ctx.status(e.status()).json(e.body());
    }

    public JDiffuseServer start() {
        jobs.start();
        app.start(options.host(), options.port());
        LOG.info("jdiffuse {} listening on http://{}:{}/ with {} model(s); ready: {}", ImageMetadata.VERSION,
                options.host(),
                port(), models.all().size(), api.notReadyReason() == null ? "yes" : api.notReadyReason());
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

    @Override
    public void close() {
        jobs.close(Duration.ofSeconds(5));
        hub.close();
        app.stop();
        metrics.close();
        models.close();
    }
}
