package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.models.ModelBudget;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Many models in one folder over real HTTP, with {@code --max-loaded-models 1} and the real SD 1 fixture pipeline
 * under two names: the default loads at start-up, another loads when a generation names it (the job passes through
 * {@code loading}) and evicts the first; a broken entry says why in {@code GET /v1/models} and the others serve.
 */
class LazyModelsServerTest {

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present("pipeline_sd1/model")) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-lazy-models");
        Files.createDirectories(models.resolve("0-broken")); // first by name: tried first, fails, is not the default
        TestServer.linkFixture(models, "a-sd1", "pipeline_sd1/model");
        TestServer.linkFixture(models, "b-sd1", "pipeline_sd1/model");
        ts = TestServer.overModels(models, ServerOptions.defaults().withBudget(new ModelBudget(1, 0)));
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    private static Map<String, JsonNode> listed() throws Exception {
        Map<String, JsonNode> byName = new HashMap<>();
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            byName.put(m.get("name").asText(), m);
        }
        return byName;
    }

    private static String body(String model, int seed) {
        return """
                {"model":"%s","prompt":"a red apple","width":64,"height":64,"steps":2,"seed":%d}"""
                .formatted(model, seed);
    }

    @Test
    void loadsOnFirstUseEvictsTheLeastRecentlyUsedAndReportsBrokenEntries() throws Exception {
        Fixtures.require("pipeline_sd1/model");
        assertEquals(200, ts.get("/readyz").status(), "the default model loaded at start-up");
        assertEquals("a-sd1", ts.get("/v1/models").json().get("default").asText());
        Map<String, JsonNode> before = listed();
        assertTrue(before.get("a-sd1").get("loaded").asBoolean());
        assertFalse(before.get("b-sd1").get("loaded").asBoolean(), "the budget of one is full");
        assertEquals("unloaded", before.get("b-sd1").get("state").asText());
        assertEquals("sd1", before.get("b-sd1").get("family").asText(), "guessed from its configs");
        assertTrue(before.get("b-sd1").get("bytes").asLong() > 0);
        JsonNode broken = before.get("0-broken");
        assertEquals("failed", broken.get("state").asText());
        assertFalse(broken.get("loaded").asBoolean());
        assertFalse(broken.path("error").asText().isBlank(), broken.toString());

        // a longer job on a keeps b queued while its stream connects, so the stream sees b's whole life
        String a = ts.submit("{\"model\":\"a-sd1\",\"prompt\":\"a red apple\",\"width\":64,\"height\":64,"
                + "\"steps\":10,\"seed\":1}");
        TestServer.Reply accepted = ts.post("/v1/generations", body("b-sd1", 2));
        assertEquals(202, accepted.status(), new String(accepted.raw().body()));
        assertEquals(2, accepted.json().get("seed").asLong());
        String b = accepted.json().get("id").asText();
        List<WsClient.Message> got;
        try (WsClient ws = new WsClient(ts.http, ts.base.replace("http", "ws") + "/v1/generations/" + b
                + "/stream")) {
            got = ws.untilFinal(b, Duration.ofSeconds(180));
        }
        assertEquals("succeeded", ts.await(a, Duration.ofSeconds(180)).get("status").asText());
        JsonNode done = ts.await(b, Duration.ofSeconds(180));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        assertEquals("b-sd1", done.get("parameters").get("model").asText());
        assertEquals(2, done.get("parameters").get("steps").asInt());
        List<String> states = got.stream().filter(m -> !m.binary() && m.json().has("status"))
                .map(m -> m.json().get("status").asText()).distinct().toList();
        assertEquals(List.of("queued", "loading", "running", "succeeded"), states, "the stream of b: " + got);

        Map<String, JsonNode> after = listed();
        assertFalse(after.get("a-sd1").get("loaded").asBoolean(), "evicted: least recently used");
        assertEquals(before.get("a-sd1").get("sha256"), after.get("a-sd1").get("sha256"),
                "an evicted model still shows its hash");
        assertTrue(after.get("b-sd1").get("loaded").asBoolean());
        assertEquals(after.get("a-sd1").get("sha256"), after.get("b-sd1").get("sha256"), "the same weights");

        TestServer.Reply refused = ts.post("/v1/generations", body("0-broken", 3));
        assertEquals(503, refused.status());
        assertEquals("model_unavailable", refused.errorCode());
        assertEquals("model", refused.errorField());

        // a request for a model that is not loaded is checked once it loads: the job fails naming the field
        String bad = ts.submit("{\"model\":\"a-sd1\",\"sampler\":\"no_such_sampler\",\"steps\":2}");
        JsonNode failed = ts.await(bad, Duration.ofSeconds(180));
        assertEquals("failed", failed.get("status").asText(), failed.toString());
        assertEquals("unknown_sampler", failed.get("error").get("code").asText());
        assertEquals("sampler", failed.get("error").get("field").asText());

        TestServer.Reply schedule = ts.post("/v1/schedule", body("b-sd1", 4));
        assertEquals(409, schedule.status(), "a dry run does not load models: b was evicted by a's load");
        assertEquals("model_not_loaded", schedule.errorCode());
        assertEquals(200, ts.post("/v1/schedule", body("a-sd1", 4)).status());
        assertEquals(200, ts.get("/readyz").status());
    }
}
