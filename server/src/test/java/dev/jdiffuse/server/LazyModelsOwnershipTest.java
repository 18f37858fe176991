package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.auth.ApiKeys;
import dev.jdiffuse.server.models.ModelBudget;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.models.PipelineLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A request for a model that is not loaded yet (accepted before its request can be resolved) under API keys, quotas
 * and the job history: it belongs to its key from the start, counts against the key's quota while it waits for the
 * load, is recorded as {@code loading}, and a restart that finds it cut short in {@code loading} records it as
 * cancelled ({@code shutdown}) with its model and seed.
 */
class LazyModelsOwnershipTest {

    static final String ALICE = ApiKeys.newKey();
    static final String BOB = ApiKeys.newKey();

    /** Two scripted models; {@code b}'s load waits for {@code release} (a countdown of one). */
    private static PipelineLoader loader(CountDownLatch release) {
        return (entry, device, dtype) -> {
            if (entry.getFileName().toString().equals("b")) {
                if (!release.await(30, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("the test never released the load of b");
                }
            }
            return new ScriptedPipeline(0);
        };
    }

    private static Path models(Path dir) throws Exception {
        for (String name : List.of("a", "b")) {
            Files.createDirectories(dir.resolve(name + "/unet"));
            Files.write(dir.resolve(name + "/unet/diffusion_pytorch_model.safetensors"), new byte[] {1, 2, 3, 4});
        }
        return dir;
    }

    private static TestServer.Reply as(TestServer ts, String key, HttpRequest.Builder b) throws Exception {
        return ts.send(b.header("Authorization", "Bearer " + key));
    }

    private static TestServer.Reply submit(TestServer ts, String key, String body) throws Exception {
        return as(ts, key, HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static TestServer.Reply job(TestServer ts, String key, String id) throws Exception {
        return as(ts, key, HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations/" + id)).GET());
    }

    private static JsonNode awaitStatus(TestServer ts, String key, String id, String status) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        JsonNode r = null;
        while (System.nanoTime() < end) {
            r = job(ts, key, id).json();
            if (status.equals(r.path("status").asText())) {
                return r;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("job " + id + " did not reach " + status + ": " + r);
    }

    @Test
    void aJobWaitingForItsModelIsItsKeysCountsAgainstItsQuotaAndSurvivesARestart(@TempDir Path dir)
            throws Exception {
        Path keys = dir.resolve("keys");
        Files.write(keys, List.of("alice:" + ApiKeys.sha256Hex(ALICE) + ":queued=1", "bob:"
                + ApiKeys.sha256Hex(BOB)));
        Path out = dir.resolve("out");
        ServerOptions options = ServerOptions.defaults().withBudget(new ModelBudget(1, 0))
                .withSafety(Safety.DEFAULTS.withApiKeys(keys).withOutputDir(out)
                        .withShutdownGrace(Duration.ofMillis(200)));
        Path folder = models(dir.resolve("models"));

        CountDownLatch firstLoad = new CountDownLatch(1);
        try (TestServer first = new TestServer(options, ModelRegistry.open(folder, loader(firstLoad), "cpu", "fp32",
                options.budget()))) {
            TestServer.Reply accepted = submit(first, ALICE, "{\"model\":\"b\",\"steps\":2,\"seed\":11}");
            assertEquals(202, accepted.status(), () -> new String(accepted.raw().body()));
            assertEquals(11, accepted.json().get("seed").asLong());
            String id = accepted.json().get("id").asText();

            JsonNode waiting = awaitStatus(first, ALICE, id, "loading");
            assertEquals("alice", waiting.get("owner").asText());
            assertEquals("b", waiting.get("model").asText());
            assertEquals(0, waiting.get("total").asInt(), "not resolved before its model loads");
            assertEquals(404, job(first, BOB, id).status(), "another key's job, though not resolved yet");
            TestServer.Reply over = submit(first, ALICE, "{\"model\":\"a\",\"steps\":1}");
            assertEquals(429, over.status(), "the waiting job holds alice's one slot");
            assertEquals("quota_exceeded", over.errorCode());

            firstLoad.countDown();
            JsonNode done = awaitStatus(first, ALICE, id, "succeeded");
            assertEquals("b", done.at("/parameters/model").asText());
            assertEquals(11, done.at("/parameters/seed").asLong());
            assertEquals(2, done.get("total").asInt());

            // a job for a, evicted by b's load: accepted pending as well, it loads a when its turn comes
            String back = submit(first, BOB, "{\"model\":\"a\",\"steps\":1,\"seed\":12}").json().get("id")
                    .asText();
            assertEquals("a", awaitStatus(first, BOB, back, "succeeded").at("/parameters/model").asText());
        }

        // a restart finds a job left in loading (its end never recorded) and records it as cancelled by the shutdown
        CountDownLatch never = new CountDownLatch(1);
        TestServer second = new TestServer(options, ModelRegistry.open(folder, loader(never), "cpu", "fp32",
                options.budget()));
        String loading;
        try {
            loading = submit(second, BOB, "{\"model\":\"b\",\"steps\":1,\"seed\":13}").json().get("id").asText();
            awaitStatus(second, BOB, loading, "loading");
            second.server.close(); // the load does not return within the grace: the job's end is never recorded
        } finally {
            never.countDown();
        }
        try (TestServer third = new TestServer(options, ModelRegistry.open(folder, loader(new CountDownLatch(0)),
                "cpu", "fp32", options.budget()))) {
            JsonNode r = job(third, BOB, loading).json();
            assertEquals("cancelled", r.get("status").asText(), r.toString());
            assertEquals("shutdown", r.at("/error/code").asText());
            assertEquals("b", r.get("model").asText(), "the model it was accepted for, from the history");
            assertTrue(r.path("parameters").isMissingNode(), "never resolved: " + r);
            assertEquals(404, job(third, ALICE, loading).status());
        }
    }
}
