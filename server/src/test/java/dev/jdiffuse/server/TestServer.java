package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.testkit.Fixtures;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/** A real server on an ephemeral loopback port around a {@link ScriptedPipeline}, with HTTP helpers. */
final class TestServer implements AutoCloseable {

    static final String HASH = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static final ObjectMapper JSON = new ObjectMapper();
    static final Set<String> TERMINAL = Set.of("succeeded", "failed", "cancelled");

    final ScriptedPipeline pipeline;
    final JDiffuseServer server;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final String base;

    TestServer(ServerOptions options, ScriptedPipeline pipeline) {
        this.pipeline = pipeline;
        this.server = new JDiffuseServer(options.withPort(0),
                new ModelRegistry(List.of(new LoadedModel("tiny", pipeline, HASH)))).start();
        this.base = "http://127.0.0.1:" + server.port();
    }

    /** A real server around already-loaded models (e.g. the tiny fixture pipelines). */
    TestServer(ServerOptions options, ModelRegistry registry) {
        this.pipeline = null;
        this.server = new JDiffuseServer(options.withPort(0), registry).start();
        this.base = "http://127.0.0.1:" + server.port();
    }

    TestServer(long stepMillis) {
        this(ServerOptions.defaults(), new ScriptedPipeline(stepMillis));
    }

    /** A real server over the models folder {@code models}, loaded on the CPU in fp32 by the production loaders. */
    static TestServer overModels(Path models) throws IOException {
        return overModels(models, ServerOptions.defaults());
    }

    /** A real server over the models folder {@code models} with {@code options}' model budget. */
    static TestServer overModels(Path models, ServerOptions options) throws IOException {
        return new TestServer(options,
                ModelRegistry.open(models, ModelLoaders.production(), "cpu", "fp32", options.budget()));
    }

    /** Links the fixture folder {@code fixture} into the models folder {@code models} as the model {@code name}. */
    static void linkFixture(Path models, String name, String fixture) throws IOException {
        Files.createSymbolicLink(models.resolve(name), Fixtures.root().resolve(fixture));
    }

    /** A response with its body parsed as JSON (null when not JSON). */
    record Reply(int status, JsonNode json, HttpResponse<byte[]> raw) {
        String header(String name) {
            return raw.headers().firstValue(name).orElse(null);
        }

        String errorCode() {
            return json == null ? null : json.path("error").path("code").asText(null);
        }

        String errorField() {
            return json == null ? null : json.path("error").path("field").asText(null);
        }
    }

    Reply send(HttpRequest.Builder b) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = http.send(b.timeout(Duration.ofSeconds(20)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        JsonNode node = null;
        if (r.headers().firstValue("Content-Type").orElse("").startsWith("application/json")) {
            node = JSON.readTree(r.body());
        }
        return new Reply(r.statusCode(), node, r);
    }

    Reply post(String path, String json) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    Reply get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET());
    }

    Reply delete(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).DELETE());
    }

    /** Submits and returns the job id (asserting 202). */
    String submit(String json) throws IOException, InterruptedException {
        Reply r = post("/v1/generations", json);
        if (r.status() != 202) {
            throw new AssertionError("expected 202, got " + r.status() + ": " + new String(r.raw().body()));
        }
        return r.json().get("id").asText();
    }

    /**
     * Submits {@code json} (a job whose prompt is "hold", which the scripted pipeline holds after step 0 until
     * {@link ScriptedPipeline#release()}) and returns its id once it holds there.
     */
    String submitHeld(String json) throws IOException, InterruptedException {
        String id = submit(json);
        if (!pipeline.awaitHold(5000)) {
            throw new AssertionError("job " + id + " did not reach the hold within 5 s");
        }
        return id;
    }

    /** Polls until the job is terminal; returns its record. */
    JsonNode await(String id, Duration timeout) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            Reply r = get("/v1/generations/" + id);
            if (r.status() == 200 && TERMINAL.contains(r.json().get("status").asText())) {
                return r.json();
            }
            Thread.sleep(10);
        }
        throw new AssertionError("job " + id + " did not end within " + timeout);
    }

    @Override
    public void close() {
        if (pipeline != null) {
            pipeline.release();
        }
        server.close();
    }
}
