package dev.jdiffuse.server.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.sdapi.SdApiRuns;
import dev.jdiffuse.server.web.ApiException;
import dev.jdiffuse.server.web.BoundedBody;
import dev.jdiffuse.server.web.StrictInput;
import io.javalin.Javalin;
import io.javalin.http.Context;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.function.Supplier;

/**
 * OpenAI's Images API, {@code POST /v1/images/generations} and {@code /v1/images/edits}, over the native queue, for
 * the clients that speak it with a configurable base URL (Open WebUI, LibreChat, the openai SDKs with
 * {@code base_url=http://host:port/v1}).
 * What it supports, ignores and adds is in {@code docs/api.md}, "OpenAI Images compatibility". Auth (the Bearer
 * key OpenAI's SDKs send), the origin guard and the security headers apply as to every route; errors are answered
 * in OpenAI's shape ({@link OpenAiError}), those of the server's filters too (see {@link #owns}).
 */
public final class OpenAiRoutes {

    /** The generation route; errors of every path under {@link #PREFIX} are answered in OpenAI's shape. */
    public static final String GENERATIONS = "/v1/images/generations";
    /** The edit route: image-to-image, or inpainting with a mask ({@link OpenAiEdits}). */
    public static final String EDITS = "/v1/images/edits";
    private static final String PREFIX = "/v1/images/";

    private final HttpApi api;
    private final ObjectMapper mapper;
    private final OpenAiGenerate generate;
    private final OpenAiEdits edits;
    private final SecureRandom random = new SecureRandom();

    public OpenAiRoutes(HttpApi api) {
        this.api = api;
        this.mapper = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(32)
                .maxNumberLength(40).build());
        this.generate = new OpenAiGenerate(api, new SdApiRuns(api.jobs()), mapper);
        this.edits = new OpenAiEdits(api, generate, mapper);
    }

    public void register(Javalin app) {
        app.post(GENERATIONS, ctx -> answer(ctx, () -> generate.run(ctx,
                OpenAiImageRequest.parse(body(ctx), api.models()::contains, random))));
        app.post(EDITS, ctx -> answer(ctx, () -> edits.run(ctx)));
    }

    /** Answers {@code route}'s JSON, or its error in OpenAI's shape. */
    private void answer(Context ctx, Supplier<ObjectNode> route) throws JsonProcessingException {
        try {
            ctx.contentType("application/json").result(mapper.writeValueAsBytes(route.get()));
        } catch (OpenAiError e) {
            render(e, ctx);
        } catch (ApiException e) {
            render(OpenAiError.of(e, "guidance_scale"), ctx);
        }
    }

    /** Whether an error on {@code path} (from any filter or handler) is answered in OpenAI's shape. */
    public static boolean owns(String path) {
        return path.startsWith(PREFIX);
    }

    /** Renders {@code e} in OpenAI's shape (marked as answered, so the server's 404 page leaves it alone). */
    public static void render(OpenAiError e, Context ctx) {
        ctx.attribute(ApiException.RENDERED, Boolean.TRUE);
        if (e.retryAfter() != null) {
            ctx.header("Retry-After", Long.toString(e.retryAfter()));
        }
        if (e.status() == 413 || e.status() == 408) {
            ctx.header("Connection", "close");
        }
        ctx.status(e.status()).contentType("application/json").result(e.body().toString());
    }

    /** The body as JSON (not JSON: 400, as OpenAI answers). */
    private JsonNode body(Context ctx) {
        String type = ctx.contentType();
        if (type != null && !type.isBlank()) {
            StrictInput.jsonMediaType(type);
        }
        byte[] bytes;
        try {
            bytes = BoundedBody.read(ctx.req().getInputStream(), ctx.req().getContentLengthLong(),
                    api.limits().maxBodyBytes(), "the request body");
        } catch (IOException e) {
            throw new ApiException(400, "bad_request", "the request body could not be read", null);
        }
        StrictInput.utf8Body(bytes);
        try {
            JsonNode node = mapper.readTree(bytes);
            if (node == null || node.isMissingNode()) {
                throw new OpenAiError(400, "invalid_json", "the request body is empty: send a JSON object",
                        null, null);
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new OpenAiError(400, "invalid_json", "We could not parse the JSON body of your request.", null,
                    null);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
