package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.api.GenerationValidator;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.loras.LoraLibrary;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.web.StrictInput;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.Handler;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AUTOMATIC1111's {@code /sdapi/v1} routes over the native queue, for the clients that speak it (SillyTavern, Open
 * WebUI, Krita and Photoshop plugins, scripts). The routes and what they support are in {@code docs/api.md},
 * "AUTOMATIC1111 compatibility". Auth, the origin guard and the security headers apply as to every route (the
 * server's {@code before} filters); errors are answered in both dialects ({@link SdApiError}).
 */
public final class SdApiRoutes {

    private final HttpApi api;
    private final SdApiModels models;
    private final SdApiRuns runs;
    private final SdApiGenerate generate;
    private final SdApiPngInfo pngInfo;
    private final ObjectMapper mapper;
    private final long maxBody;

    public SdApiRoutes(HttpApi api) {
        this.api = api;
        var limits = api.limits();
        // an img2img body carries two images as base64 (4/3 of their bytes) besides the native body's fields
        this.maxBody = limits.maxBodyBytes() + 2 * (limits.maxUploadBytes() / 3 * 4 + 4);
        this.mapper = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(32)
                .maxNumberLength(40).maxStringLength((int) Math.min(Integer.MAX_VALUE, maxBody)).build());
        this.models = new SdApiModels(api.models());
        this.runs = new SdApiRuns(api.jobs());
        this.generate = new SdApiGenerate(api, models, runs, mapper);
        this.pngInfo = new SdApiPngInfo(limits.maxUploadBytes());
    }

    public void register(Javalin app) {
        app.post("/sdapi/v1/txt2img", wrap(ctx -> json(ctx, generate.run(ctx, body(ctx), false))));
        app.post("/sdapi/v1/img2img", wrap(ctx -> json(ctx, generate.run(ctx, body(ctx), true))));
        app.post("/sdapi/v1/png-info", wrap(ctx -> json(ctx, pngInfo.run(body(ctx)))));
        app.get("/sdapi/v1/sd-models", wrap(ctx -> json(ctx, models.list())));
        app.get("/sdapi/v1/samplers", wrap(ctx -> json(ctx, A1111Samplers.samplers())));
        app.get("/sdapi/v1/schedulers", wrap(ctx -> json(ctx, A1111Samplers.schedulers())));
        app.get("/sdapi/v1/upscalers", wrap(ctx -> json(ctx, List.of(upscaler("Bicubic")))));
        app.get("/sdapi/v1/latent-upscale-modes", wrap(ctx -> json(ctx, List.of(Map.of("name", "Latent"),
                Map.of("name", "Latent (nearest)")))));
        // A1111's external VAE files (SillyTavern lists them): none here, each model decodes with its own VAE
        app.get("/sdapi/v1/sd-vae", wrap(ctx -> json(ctx, List.of())));
        app.get("/sdapi/v1/loras", wrap(this::loras));
        app.get("/sdapi/v1/embeddings", wrap(this::embeddings));
        app.get("/sdapi/v1/options", wrap(this::options));
        app.post("/sdapi/v1/options", wrap(this::setOptions));
        app.get("/sdapi/v1/progress", wrap(this::progress));
        app.post("/sdapi/v1/interrupt", wrap(ctx -> {
            runs.visible(caller(ctx)::mayAccess).forEach(runs::interrupt);
            json(ctx, Map.of());
        }));
        // A1111's refresh buttons: the models folder and the LoRA folder are looked at again now
        app.post("/sdapi/v1/refresh-checkpoints", wrap(ctx -> {
            api.models().refresh();
            json(ctx, null);
        }));
        app.post("/sdapi/v1/refresh-loras", wrap(ctx -> {
            api.loras().refresh();
            json(ctx, null);
        }));
        app.post("/sdapi/v1/skip", wrap(ctx -> {
            runs.visible(caller(ctx)::mayAccess).forEach(runs::skip);
            json(ctx, Map.of());
        }));
    }

    private static Caller caller(Context ctx) {
        return Authenticator.caller(ctx);
    }

    /** Renders {@link SdApiError}s, and the native errors raised under these routes, in both dialects. */
    private Handler wrap(Handler h) {
        return ctx -> {
            SdApiError err;
            try {
                h.handle(ctx);
                return;
            } catch (SdApiError e) {
                err = e;
            } catch (ApiException e) {
                err = SdApiError.of(e, "cfg_scale");
            }
            ctx.attribute(ApiException.RENDERED, Boolean.TRUE);
            if (err.retryAfter() != null) {
                ctx.header("Retry-After", Long.toString(err.retryAfter()));
            }
            if (err.status() == 413 || err.status() == 408) {
                ctx.header("Connection", "close");
            }
            ctx.status(err.status()).contentType("application/json").result(mapper.writeValueAsBytes(err.body()));
        };
    }

    private void json(Context ctx, Object value) throws JsonProcessingException {
        ctx.contentType("application/json").result(mapper.writeValueAsBytes(value));
    }

    /** The body as JSON (a body that is not JSON: 422, as FastAPI answers). */
    private JsonNode body(Context ctx) {
        String type = ctx.contentType();
        if (type != null && !type.isBlank()) {
            StrictInput.jsonMediaType(type);
        }
        byte[] bytes = api.readLargeBody(ctx, maxBody, "the request body");
        StrictInput.utf8Body(bytes);
        try {
            return mapper.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new SdApiError(422, "malformed_json", "the request body is not valid JSON", null,
                    mapper.getNodeFactory().textNode("the request body is not valid JSON"), null);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Map<String, Object> upscaler(String name) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("model_name", null);
        m.put("model_path", null);
        m.put("model_url", null);
        m.put("scale", 4.0);
        return m;
    }

    /** {@code [{name, alias, path, metadata}]}: the {@code --loras} folder (paths left out: the name is shown). */
    private void loras(Context ctx) throws JsonProcessingException {
        LoraLibrary loras = api.loras();
        loras.refresh();
        List<Map<String, Object>> out = new ArrayList<>();
        for (LoraLibrary.Entry e : loras.all()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", e.name());
            m.put("alias", e.name());
            m.put("path", e.name());
            m.put("metadata", Map.of("sshs_model_hash", e.hashes().sha256()));
            out.add(m);
        }
        json(ctx, out);
    }

    /**
     * A1111's {@code {loaded: {name: {step, sd_checkpoint, sd_checkpoint_name, shape, vectors}}, skipped: {...}}}:
     * {@code shape} is the width of the first vector table; step and checkpoint are not known from safetensors
     * files (null). Skipped files map to the reason, where A1111 maps them to the same record.
     */
    private void embeddings(Context ctx) throws JsonProcessingException {
        var library = api.embeddings();
        Map<String, Object> loaded = new LinkedHashMap<>();
        library.snapshot().byName().values().forEach(e -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", null);
            m.put("sd_checkpoint", null);
            m.put("sd_checkpoint_name", null);
            m.put("shape", e.widths().get(0));
            m.put("vectors", e.vectors());
            loaded.put(e.name(), m);
        });
        Map<String, Object> skipped = new LinkedHashMap<>(library.skipped());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("loaded", loaded);
        out.put("skipped", skipped);
        json(ctx, out);
    }

    private void options(Context ctx) throws JsonProcessingException {
        String name = caller(ctx).name();
        String model = models.defaultFor(name);
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("sd_model_checkpoint", model == null ? null : models.title(model));
        o.put("sd_checkpoint_hash", model == null ? null : models.hash(model));
        o.put("CLIP_stop_at_last_layers", models.clipSkip(name));
        o.put("sd_vae", "Automatic");
        o.put("samples_format", "png");
        o.put("return_grid", false);
        o.put("show_progress_every_n_steps", -1);
        json(ctx, o);
    }

    /**
     * Sets the calling key's {@code sd_model_checkpoint} (404 naming it when unknown) and
     * {@code CLIP_stop_at_last_layers} (1..12); other options are accepted and ignored. Answers {@code null}.
     */
    private void setOptions(Context ctx) {
        JsonNode body = body(ctx);
        if (!body.isObject()) {
            throw SdApiError.type("body", "dict");
        }
        String name = caller(ctx).name();
        JsonNode skip = body.get("CLIP_stop_at_last_layers");
        int clipSkip = -1;
        if (skip != null && !skip.isNull()) {
            if (!skip.canConvertToExactIntegral()) {
                throw SdApiError.type("CLIP_stop_at_last_layers", "integer");
            }
            clipSkip = skip.asInt();
            if (clipSkip < 1 || clipSkip > GenerationValidator.MAX_CLIP_SKIP) {
                throw SdApiError.invalid("CLIP_stop_at_last_layers", "CLIP_stop_at_last_layers must be 1.."
                        + GenerationValidator.MAX_CLIP_SKIP + ", got " + clipSkip);
            }
        }
        JsonNode ckpt = body.get("sd_model_checkpoint");
        String model = null;
        if (ckpt != null && !ckpt.isNull()) {
            if (!ckpt.isTextual()) {
                throw SdApiError.type("sd_model_checkpoint", "str");
            }
            model = models.resolve(ckpt.asText(), "sd_model_checkpoint");
        }
        if (model != null) {
            models.setDefault(name, model);
        }
        if (clipSkip > 0) {
            models.setClipSkip(name, clipSkip);
        }
        ctx.contentType("application/json").result("null");
    }

    /**
     * The caller's oldest A1111 request in flight: {@code progress = (images ended + the running image's step
     * fraction) / images}, {@code eta_relative = elapsed / progress - elapsed} (A1111's {@code progressapi}).
     */
    private void progress(Context ctx) throws JsonProcessingException {
        List<SdApiRuns.Run> visible = runs.visible(caller(ctx)::mayAccess);
        ObjectNode out = mapper.createObjectNode();
        ObjectNode state = mapper.createObjectNode();
        double progress = 0;
        double eta = 0;
        String text = null;
        int jobNo = 0;
        int total = 0;
        int step = 0;
        int steps = 0;
        boolean interrupted = false;
        String timestamp = "0";
        if (!visible.isEmpty()) {
            SdApiRuns.Run run = visible.get(0);
            total = run.total;
            jobNo = run.ended();
            interrupted = run.interrupted;
            double fraction = 0;
            for (Job j : run.jobs) {
                if (j.status() == JobStatus.RUNNING && j.totalSteps() > 0) {
                    step = j.progress().step() + 1;
                    steps = j.totalSteps();
                    fraction = (double) step / steps;
                    break;
                }
                if (j.status() == JobStatus.QUEUED && text == null) {
                    text = "In queue: " + j.position().map(p -> p + " ahead").orElse("waiting");
                }
            }
            progress = Math.min(1.0, (jobNo + fraction) / Math.max(1, total));
            double elapsed = (System.nanoTime() - run.startNanos) / 1e9;
            eta = progress > 0 ? elapsed / progress - elapsed : 0;
            timestamp = java.time.format.DateTimeFormatter.ofPattern("yyyyMMddHHmmss")
                    .withZone(java.time.ZoneOffset.UTC).format(run.started);
        }
        out.put("progress", progress);
        out.put("eta_relative", eta);
        state.put("skipped", false);
        state.put("interrupted", interrupted);
        state.put("stopping_generation", false);
        state.put("job", visible.isEmpty() ? "" : "Batch " + Math.min(total, jobNo + 1) + " out of " + total);
        state.put("job_count", total);
        state.put("job_timestamp", timestamp);
        state.put("job_no", jobNo);
        state.put("sampling_step", step);
        state.put("sampling_steps", steps);
        out.set("state", state);
        out.putNull("current_image");
        out.put("textinfo", text);
        json(ctx, out);
    }
}
