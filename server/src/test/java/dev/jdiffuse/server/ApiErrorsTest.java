package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every error class answers {@code {"error":{"code","message","field"}}} with the documented status. */
class ApiErrorsTest {

    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(ServerOptions.defaults().withLimits(new Limits(1024, 512L * 512, 50, 4, 100, 4096,
                64 * 1024, 1024L * 1024, 2048)), new ScriptedPipeline(0));
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    private static void expect(TestServer.Reply r, int status, String code, String field) {
        assertEquals(status, r.status(), () -> new String(r.raw().body()));
        assertNotNull(r.json(), "error bodies are JSON");
        assertEquals(code, r.errorCode());
        assertEquals(field, r.errorField());
        assertFalse(r.json().path("error").path("message").asText().isBlank());
    }

    @ParameterizedTest(name = "{0} -> {1} {2}")
    @CsvSource(delimiter = '|', value = {
            "{\"width\":65}|invalid_value|width",
            "{\"width\":56}|invalid_value|width",
            "{\"width\":1032}|invalid_value|width",
            "{\"height\":2048}|invalid_value|height",
            "{\"width\":1024,\"height\":1024}|invalid_value|width",
            "{\"steps\":0}|invalid_value|steps",
            "{\"steps\":51}|invalid_value|steps",
            "{\"guidance_scale\":30.5}|invalid_value|guidance_scale",
            "{\"guidance_scale\":-1}|invalid_value|guidance_scale",
            "{\"guidance_rescale\":1.5}|invalid_value|guidance_rescale",
            "{\"batch_size\":0}|invalid_value|batch_size",
            "{\"batch_size\":5}|invalid_value|batch_size",
            "{\"seed\":-2}|invalid_value|seed",
            "{\"preview\":{\"method\":\"fancy\"}}|invalid_value|preview.method",
            "{\"preview\":{\"every\":0}}|invalid_value|preview.every",
            "{\"model\":\"nope\"}|unknown_model|model",
            "{\"sampler\":\"nope\"}|unknown_sampler|sampler",
            "{\"schedule\":\"nope\"}|unknown_schedule|schedule",
            "{\"controlnets\":[{\"model\":\"depth\",\"image\":\"x\"}]}|unknown_controlnet|controlnets[0].model",
            "{\"controlnets\":[{\"model\":\"canny\",\"image\":\"x\"}]}|unknown_upload|controlnets[0].image",
            "{\"colour\":\"red\"}|unknown_field|colour",
            "{\"preview\":{\"method\":\"rgb\",\"speed\":1}}|unknown_field|preview.speed",
            "{\"steps\":\"20\"}|invalid_type|steps",
            "{\"steps\":20.5}|invalid_type|steps",
            "{\"prompt\":7}|invalid_type|prompt",
            "{\"discard_penultimate_sigma\":\"yes\"}|invalid_type|discard_penultimate_sigma",
            "{\"vae_tiling\":\"sometimes\"}|invalid_value|vae_tiling",
            "{\"vae_tiling\":true}|invalid_type|vae_tiling",
            "{\"vae_tile_size\":100}|invalid_value|vae_tile_size",
            "{\"vae_tile_size\":32}|invalid_value|vae_tile_size",
            "{\"vae_tile_size\":4128}|invalid_value|vae_tile_size",
            "{\"vae_tile_size\":512.5}|invalid_type|vae_tile_size",
            "{\"sampler\":\"lcm\",\"schedule\":\"karras\"}|unsupported_combination|schedule",
            "{\"strength\":0.5}|invalid_value|strength",
            "{\"subseed\":5}|invalid_value|subseed",
            "{\"subseed_strength\":1.5}|invalid_value|subseed_strength",
            "{\"init_image\":\"nope\"}|unknown_upload|init_image",
    })
    void badValuesAre400NamingTheField(String body, String code, String field) throws Exception {
        expect(ts.post("/v1/generations", body), 400, code, field);
    }

    @Test
    void promptLongerThanTheLimit() throws Exception {
        expect(ts.post("/v1/generations", "{\"prompt\":\"" + "x".repeat(101) + "\"}"), 400, "invalid_value",
                "prompt");
        expect(ts.post("/v1/generations", "{\"negative_prompt\":\"" + "x".repeat(101) + "\"}"), 400,
                "invalid_value", "negative_prompt");
    }

    @Test
    void malformedJson() throws Exception {
        expect(ts.post("/v1/generations", "{\"steps\":"), 400, "malformed_json", null);
        expect(ts.post("/v1/generations", "{} {}"), 400, "malformed_json", null);
        expect(ts.post("/v1/generations", ""), 400, "malformed_json", null);
        expect(ts.post("/v1/generations", "[1]"), 400, "malformed_json", null);
        expect(ts.post("/v1/generations", "{\"steps\":1,\"steps\":2}"), 400, "malformed_json", null);
        expect(ts.post("/v1/generations", "[".repeat(100)), 400, "malformed_json", null);
        expect(ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString("{}"))), 415,
                "unsupported_media_type", null);
    }

    @Test
    void bodyTooLarge() throws Exception {
        expect(ts.post("/v1/generations", "{\"prompt\":\"" + "x".repeat(5000) + "\"}"), 413, "too_large", null);
    }

    @Test
    void unknownThingsInThePathAre404() throws Exception {
        expect(ts.get("/v1/generations/00000000-0000-0000-0000-000000000000"), 404, "not_found", null);
        expect(ts.delete("/v1/generations/nope"), 404, "not_found", null);
        expect(ts.get("/v1/generations/nope/images/0"), 404, "not_found", null);
        expect(ts.get("/v1/nothing-here"), 404, "not_found", null);
        String id = ts.submit("{\"steps\":1}");
        ts.await(id, Duration.ofSeconds(5));
        expect(ts.get("/v1/generations/" + id + "/images/1"), 404, "not_found", null);
        expect(ts.get("/v1/generations/" + id + "/images/x"), 404, "not_found", null);
        assertEquals(200, ts.get("/v1/generations/" + id + "/images/0").status());
    }

    @Test
    void unexpectedErrorsAre500WithoutInternals() throws Exception {
        TestServer.Reply r = ts.post("/v1/generations", "{\"prompt\":\"boom-schedule\"}");
        expect(r, 500, "internal", null);
        String body = new String(r.raw().body());
        assertFalse(body.contains("secret") || body.contains("at dev.") || body.contains("Exception"), body);
    }

    @Test
    void crossOriginWritesAreRefused() throws Exception {
        expect(ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                .header("Origin", "https://evil.example").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{}"))), 403, "forbidden_origin", null);
        TestServer.Reply sameOrigin = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                .header("Origin", ts.base).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"steps\":1}")));
        assertEquals(202, sameOrigin.status());
    }

    @Test
    void errorFieldIsNullWhenNoFieldIsAtFault() throws Exception {
        TestServer.Reply r = ts.get("/v1/generations/x");
        assertTrue(r.json().path("error").has("field"));
        assertNull(r.errorField());
    }
}
