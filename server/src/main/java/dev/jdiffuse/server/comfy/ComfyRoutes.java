package dev.jdiffuse.server.comfy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.models.ModelListing;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.web.StrictInput;
import io.javalin.Javalin;
import dev.jdiffuse.server.web.MultipartParts;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import io.javalin.websocket.WsConfig;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * ComfyUI's HTTP and WebSocket API ({@code server.py}) over the native queue, for the clients that drive ComfyUI
 * (Open WebUI's ComfyUI backend, scripts after ComfyUI's {@code websockets_api_example.py}, SwarmUI's ComfyUI
 * backend as far as its workflows use the supported nodes; Krita AI Diffusion's is not among them: it requires custom
 * nodes, ETN_* and IPAdapter, that are not here). Every route is also mounted under
 * {@code /api}, as ComfyUI does. A workflow is checked ({@link ComfyGraph}), read as native jobs ({@link ComfyPlan})
 * and queued through {@link HttpApi#accept} (the caller's auth, quotas, budgets and turn, as a native request);
 * refusals are ComfyUI's {@code {error, node_errors}} naming the node and input ({@link ComfyError}). What is
 * supported and refused is in {@code docs/api.md}, "ComfyUI compatibility".
 */
public final class ComfyRoutes {

    private static final Pattern UUID_FORM = Pattern.compile(
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    private static final Pattern NAME = Pattern.compile("[^/\\\\\\x00-\\x1f]{1,200}");

    private final HttpApi api;
    private final Authenticator auth;
    private final ObjectMapper mapper;
    private final ComfySockets sockets;
    private final ComfyPrompts prompts;
    private final ComfyUploads uploads = new ComfyUploads();
    private final ComfyCatalog catalog;

    public ComfyRoutes(HttpApi api, Authenticator auth) {
        this.api = api;
        this.auth = auth;
        this.mapper = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64)
                .maxNumberLength(40).build());
        this.catalog = new ComfyCatalog(api, uploads);
        this.sockets = new ComfySockets(mapper);
        this.prompts = new ComfyPrompts(mapper, api.jobs(), sockets, api::discardImage);
        api.jobs().alsoListen(prompts);
    }

    public void register(Javalin app) {
        for (String p : List.of("", "/api")) {
            app.post(p + "/prompt", wrap(this::submit));
            app.get(p + "/prompt", wrap(ctx -> json(ctx, queueInfo(caller(ctx)))));
            app.get(p + "/queue", wrap(this::queue));
            app.post(p + "/queue", wrap(this::postQueue));
            app.get(p + "/history", wrap(this::history));
            app.get(p + "/history/{prompt_id}", wrap(ctx -> json(ctx, prompts.history(caller(ctx),
                    ctx.pathParam("prompt_id"), null, -1))));
            app.post(p + "/history", wrap(this::postHistory));
            app.post(p + "/interrupt", wrap(this::interrupt));
            app.get(p + "/object_info", wrap(ctx -> json(ctx, catalog.objectInfo(caller(ctx), null))));
            app.get(p + "/object_info/{node_class}", wrap(ctx -> json(ctx, catalog.objectInfo(caller(ctx),
                    ctx.pathParam("node_class")))));
            app.get(p + "/system_stats", wrap(ctx -> json(ctx, catalog.systemStats())));
            app.post(p + "/upload/image", wrap(this::upload));
            app.get(p + "/view", wrap(this::view));
            app.get(p + "/models", wrap(ctx -> json(ctx, List.of("checkpoints", "loras"))));
            app.get(p + "/models/{folder}", wrap(this::modelFolder));
            // the names a prompt's embedding:name may use (the --embeddings folder, read again)
            app.get(p + "/embeddings", wrap(ctx -> json(ctx, List.copyOf(api.embeddings().snapshot().byName()
                    .keySet()))));
            app.get(p + "/features", wrap(ctx -> json(ctx, features())));
            app.ws(p + "/ws", this::socket);
        }
    }

    private static Caller caller(Context ctx) {
        return Authenticator.caller(ctx);
    }

    /** Renders {@link ComfyError}s, and the native errors raised under these routes, in ComfyUI's shape. */
    private Handler wrap(Handler h) {
        return ctx -> {
            ComfyError err;
            try {
                h.handle(ctx);
                return;
            } catch (ComfyError e) {
                err = e;
            } catch (ApiException e) {
                err = ComfyError.of(e.status(), e.body().error().code(), e.getMessage(), "", null)
                        .retryAfter(e.retryAfterSeconds());
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

    /** A JSON body of at most the native body limit; an empty body is {@code {}} when {@code optional}. */
    private JsonNode body(Context ctx, boolean optional) {
        byte[] bytes = api.readLargeBody(ctx, api.limits().maxBodyBytes(), "the request body");
        if (bytes.length == 0 && optional) {
            return mapper.createObjectNode();
        }
        StrictInput.utf8Body(bytes);
        try {
            JsonNode n = mapper.readTree(bytes);
            if (n == null || n.isMissingNode()) {
                throw new IOException("empty");
            }
            return n;
        } catch (IOException e) {
            throw ComfyError.of(400, "invalid_json", "Invalid JSON", "the request body is not valid JSON", null);
        }
    }

    // ---- POST /prompt ----

    private void submit(Context ctx) throws JsonProcessingException {
        JsonNode body = body(ctx, false);
        if (!body.isObject()) {
            throw ComfyError.of(400, "invalid_prompt", "Invalid prompt", "the body must be a JSON object", null);
        }
        JsonNode graph = body.get("prompt");
        if (graph == null) {
            throw ComfyError.of(400, "no_prompt", "No prompt provided", "No prompt provided", null);
        }
        JsonNode given = body.get("prompt_id");
        String id;
        if (given == null || given.isNull()) {
            id = UUID.randomUUID().toString();
        } else if (given.isTextual() && UUID_FORM.matcher(given.asText()).matches()) {
            id = given.asText();
        } else {
            throw ComfyError.of(400, "invalid_prompt_id", "prompt_id must be a valid UUID", "prompt_id must be a "
                    + "UUID string in canonical lowercase hyphenated form; omit it to let the server generate one",
                    null);
        }
        JsonNode client = body.get("client_id");
        String clientId = client != null && client.isTextual() ? client.asText() : null;
        ObjectNode extra = body.get("extra_data") instanceof ObjectNode o ? o.deepCopy() : mapper.createObjectNode();
        // ComfyUI's SENSITIVE_EXTRA_DATA_KEYS never reach the queue or the history
        extra.remove(List.of("auth_token_comfy_org", "api_key_comfy_org"));
        if (clientId != null) {
            extra.put("client_id", clientId);
        }
        extra.put("create_time", System.currentTimeMillis());
        Caller caller = caller(ctx);
        ComfyGraph checked = ComfyGraph.check(graph, catalog.choices(caller));
        List<String> temporary = new ArrayList<>();
        ComfyPrompts.Prompt p;
        ComfyPlan plan;
        try {
            plan = ComfyPlan.of(checked, planContext(caller, temporary), preview(extra.get("preview_method")));
            p = prompts.open(id, caller.name(), clientId, graph, extra, checked, plan);
            if (p == null) {
                throw ComfyError.of(400, "invalid_prompt_id", "prompt_id is already in use", "prompt_id " + id
                        + " names a prompt this server already has; omit it to let the server generate one", null);
            }
        } catch (RuntimeException e) {
            temporary.forEach(api::discardImage);
            throw e;
        }
        p.temporary.addAll(temporary);
        try {
            for (int i = 0; i < plan.works.size(); i++) {
                ComfyPlan.Work w = plan.works.get(i);
                Job job;
                try {
                    job = api.accept(ctx, w.body());
                } catch (ApiException e) {
                    throw nativeError(e, checked, plan, i);
                }
                prompts.attach(p, job);
            }
        } catch (RuntimeException e) {
            prompts.abandon(p);
            throw e;
        }
        prompts.submitted(p);
        ObjectNode out = mapper.createObjectNode();
        out.put("prompt_id", id);
        out.put("number", p.number);
        out.putObject("node_errors");
        json(ctx, out);
    }

    /**
     * ComfyUI's per-prompt {@code extra_data.preview_method}: {@code auto} and {@code latent2rgb} are the native
     * latent-to-RGB previews, {@code taesd} TAESD's (where the model has one), {@code none} and {@code default}
     * (ComfyUI's default, no previews) none; every step, the long side at most 512 (ComfyUI's
     * {@code --preview-size}).
     */
    private static dev.jdiffuse.server.api.GenerationBody.PreviewBody preview(JsonNode method) {
        String m = method == null || method.isNull() ? "none" : method.asText();
        String nativeMethod = switch (m) {
            case "auto", "latent2rgb" -> "rgb";
            case "taesd" -> "taesd";
            case "none", "default" -> null;
            default -> throw ComfyError.of(400, "invalid_prompt", "Invalid preview_method", "extra_data."
                    + "preview_method must be auto, latent2rgb, taesd, none or default; got '" + m + "'", null);
        };
        return nativeMethod == null ? null : new dev.jdiffuse.server.api.GenerationBody.PreviewBody(nativeMethod, 1,
                512);
    }

    /** A native refusal of work {@code w}: a field error names the node input it came from. */
    private static ComfyError nativeError(ApiException e, ComfyGraph g, ComfyPlan plan, int w) {
        var detail = e.body().error();
        int status = e.status();
        if (detail.field() != null && status >= 400 && status < 500 && status != 429 && status != 413) {
            ComfyPlan.Ref ref = plan.works.get(w).ref(detail.field());
            String output = plan.outputs.stream().filter(o -> o.work() == w).map(ComfyPlan.Output::node)
                    .findFirst().orElse(null);
            return ComfyError.node(ref.node(), g.classes.get(ref.node()), output, new ComfyError.NodeError(
                    "invalid_input", "Invalid input", (ref.input() == null ? "" : ref.input() + ": ")
                    + e.getMessage() + " (jdiffuse field " + detail.field() + ")", ref.input(), null));
        }
        return ComfyError.of(status, detail.code(), e.getMessage(), "", null).retryAfter(e.retryAfterSeconds());
    }

    private ComfyPlan.Context planContext(Caller caller, List<String> temporary) {
        Map<String, String> masks = new LinkedHashMap<>();
        return new ComfyPlan.Context() {
            @Override
            public String mask(String name, String channel) {
                String key = name + "\u0000" + channel;
                if (masks.containsKey(key)) {
                    return masks.get(key);
                }
                String id = uploads.id(caller.name(), name);
                var upload = id == null ? Optional.<dev.jdiffuse.server.images.UploadStore.Upload>empty()
                        : api.uploads().get(id);
                if (upload.isEmpty()) {
                    return null;
                }
                String made = api.storeImage(ComfyMasks.png(upload.get().image(), channel)).id();
                temporary.add(made);
                masks.put(key, made);
                return made;
            }

            @Override
            public Optional<ModelListing> model(String name) {
                return api.models().list().stream().filter(l -> l.name().equals(name)).findFirst();
            }

            @Override
            public String upload(String name) {
                return uploads.id(caller.name(), name);
            }
        };
    }

    // ---- queue and history ----

    private ObjectNode queueInfo(Caller caller) {
        ObjectNode o = mapper.createObjectNode();
        o.putObject("exec_info").put("queue_remaining", prompts.remaining(caller));
        return o;
    }

    private void queue(Context ctx) throws JsonProcessingException {
        ObjectNode out = mapper.createObjectNode();
        ArrayNode running = out.putArray("queue_running");
        ArrayNode pending = out.putArray("queue_pending");
        for (ComfyPrompts.Prompt p : prompts.active(caller(ctx))) {
            (p.running() ? running : pending).add(p.item());
        }
        json(ctx, out);
    }

    /** {@code {clear: true}} or {@code {delete: [prompt ids]}}: the caller's waiting prompts are cancelled. */
    private void postQueue(Context ctx) {
        JsonNode body = body(ctx, true);
        if (body.path("clear").asBoolean(false)) {
            prompts.cancel(caller(ctx), null, false);
        }
        List<String> ids = ids(body.get("delete"));
        if (ids != null) {
            prompts.cancel(caller(ctx), ids, false);
        }
        ctx.status(200);
    }

    private void postHistory(Context ctx) {
        JsonNode body = body(ctx, true);
        if (body.path("clear").asBoolean(false)) {
            prompts.forget(caller(ctx), null);
        }
        List<String> ids = ids(body.get("delete"));
        if (ids != null) {
            prompts.forget(caller(ctx), ids);
        }
        ctx.status(200);
    }

    private static List<String> ids(JsonNode node) {
        if (node == null || !node.isArray()) {
            return null;
        }
        List<String> ids = new ArrayList<>();
        node.forEach(n -> ids.add(n.asText()));
        return ids;
    }

    private void history(Context ctx) throws JsonProcessingException {
        Integer max = intParam(ctx, "max_items");
        Integer offset = intParam(ctx, "offset");
        json(ctx, prompts.history(caller(ctx), null, max, offset == null ? -1 : offset));
    }

    private static Integer intParam(Context ctx, String name) {
        String v = ctx.queryParam(name);
        if (v == null) {
            return null;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw ComfyError.of(400, "invalid_query", "Invalid query parameter", name + " must be an integer", null);
        }
    }

    /**
     * {@code {prompt_id?}}: without one, the caller's running prompts are interrupted (ComfyUI interrupts what runs);
     * with one, that prompt if it is running. Waiting prompts stay queued (POST /queue deletes them).
     */
    private void interrupt(Context ctx) {
        JsonNode body;
        try {
            body = body(ctx, true);
        } catch (ComfyError e) {
            body = mapper.createObjectNode(); // ComfyUI treats a body that is not JSON as none
        }
        String id = body.path("prompt_id").asText("");
        prompts.cancel(caller(ctx), id.isEmpty() ? null : List.of(id), true);
        ctx.status(200);
    }

    private void modelFolder(Context ctx) throws JsonProcessingException {
        ComfyNodes.Choices c = catalog.choices(caller(ctx));
        switch (ctx.pathParam("folder")) {
            case "checkpoints" -> json(ctx, c.checkpoints());
            case "loras" -> json(ctx, c.loras());
            default -> throw ComfyError.of(404, "not_found", "Unknown model folder", "folders: checkpoints, loras",
                    null);
        }
    }

    /** ComfyUI's server feature flags ({@code comfy_api/feature_flags.py}), also the answer to a client's. */
    private ObjectNode features() {
        ObjectNode flags = mapper.createObjectNode();
        flags.put("supports_preview_metadata", false);
        flags.put("max_upload_size", api.limits().maxUploadBytes());
        return flags;
    }

    // ---- uploads and images ----

    /** Most parts an upload body may have: image, subfolder, overwrite, type, with room to spare. */
    private static final int MAX_UPLOAD_PARTS = 16;

    /**
     * Multipart {@code image} (plus optional {@code subfolder}, {@code overwrite}, {@code type} input): the image is
     * checked and kept by the native upload store (its size, pixel and memory limits); answers {@code {name,
     * subfolder, type}}, the name LoadImage's {@code image} takes.
     */
    private void upload(Context ctx) throws JsonProcessingException {
        byte[] body = api.readLargeBody(ctx, api.limits().maxUploadBytes() + 64 * 1024, "the upload");
        Map<String, MultipartParts.Part> parts = new LinkedHashMap<>();
        try {
            // the first part of each name counts, as ComfyUI's aiohttp reader takes it
            MultipartParts.parse(ctx.contentType(), body, MAX_UPLOAD_PARTS)
                    .forEach(p -> parts.putIfAbsent(p.name(), p));
        } catch (IllegalArgumentException e) {
            throw ComfyError.of(400, "invalid_upload", "Invalid upload", e.getMessage(), null);
        }
        MultipartParts.Part image = parts.get("image");
        if (image == null || image.filename() == null || image.filename().isEmpty()) {
            throw ComfyError.of(400, "invalid_upload", "Invalid upload", "the multipart field 'image' with a file "
                    + "name is missing", null);
        }
        String name = image.filename();
        String subfolder = parts.containsKey("subfolder") ? parts.get("subfolder").text().trim() : "";
        String type = parts.containsKey("type") ? parts.get("type").text().trim() : "input";
        if (!NAME.matcher(name).matches() || name.equals("..") || name.equals(".")) {
            throw ComfyError.of(400, "invalid_upload", "Invalid file name", "a plain file name, no path", null);
        }
        for (String part : subfolder.split("/")) {
            if (!subfolder.isEmpty() && (!NAME.matcher(part).matches() || part.equals("..") || part.equals("."))) {
                throw ComfyError.of(400, "invalid_upload", "Invalid subfolder", "subfolder names without '..'",
                        null);
            }
        }
        if (!type.equals("input")) {
            throw ComfyError.of(400, "invalid_upload", "Invalid type", "only type 'input' is kept here", null);
        }
        boolean overwrite = parts.containsKey("overwrite") && List.of("true", "1")
                .contains(parts.get("overwrite").text().trim());
        String id = api.storeImage(image.data()).id();
        String used = uploads.put(caller(ctx).name(), subfolder, name, id, overwrite);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", used);
        out.put("subfolder", subfolder);
        out.put("type", "input");
        json(ctx, out);
    }

    /** A PNG this layer named in an {@code executed} message or history entry; anything else is 404. */
    private void view(Context ctx) {
        String filename = ctx.queryParam("filename");
        if (filename == null || filename.isEmpty()) {
            throw ComfyError.of(400, "invalid_query", "filename is missing", "", null);
        }
        String subfolder = Optional.ofNullable(ctx.queryParam("subfolder")).orElse("");
        String type = Optional.ofNullable(ctx.queryParam("type")).orElse("output");
        ComfyPrompts.Image img = prompts.image(caller(ctx), filename, subfolder, type).orElseThrow(() ->
                ComfyError.of(404, "not_found", "No such image", "images are those named by this server's "
                        + "executed messages and history", null));
        byte[] png = api.jobs().get(img.jobId()).flatMap(j -> api.jobs().image(j, img.index())).orElseThrow(() ->
                ComfyError.of(404, "not_found", "The image is no longer kept", "finished generations are kept for "
                        + "the server's result lifetime", null));
        ctx.contentType("image/png").header("X-Content-Type-Options", "nosniff")
                .header("Content-Disposition", "filename=\"" + filename.replace("\"", "") + "\"").result(png);
    }

    // ---- /ws ----

    private void socket(WsConfig ws) {
        ws.onConnect(ctx -> {
            ctx.enableAutomaticPings(15, TimeUnit.SECONDS);
            String clientId = ctx.queryParam("clientId");
            if (clientId == null || clientId.isBlank() || clientId.length() > 200) {
                clientId = UUID.randomUUID().toString().replace("-", "");
            }
            Caller caller = auth.callerOf(ctx.attribute(Authenticator.ATTRIBUTE));
            sockets.connect(ctx.sessionId(), clientId, caller, ctx.session, sockets.status(prompts.remaining(caller),
                    clientId));
        });
        ws.onMessage(ctx -> {
            ComfySockets.Session s = sockets.session(ctx.sessionId());
            if (s == null) {
                return;
            }
            try {
                JsonNode m = mapper.readTree(ctx.message());
                if (m != null && "feature_flags".equals(m.path("type").asText())) {
                    sockets.send(s, "feature_flags", features());
                }
            } catch (IOException e) {
                // ComfyUI logs and ignores a message that is not JSON
            }
        });
        ws.onBinaryMessage(ctx -> ctx.closeSession(1003, "binary messages are not accepted"));
        ws.onClose(ctx -> sockets.gone(ctx.sessionId()));
        ws.onError(ctx -> sockets.gone(ctx.sessionId()));
    }
}
