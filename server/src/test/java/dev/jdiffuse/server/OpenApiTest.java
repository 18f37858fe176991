package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The served OpenAPI document and docs/api.md describe every endpoint the server has. */
class OpenApiTest {

    static final List<String> ENDPOINTS = List.of("/v1/generations", "/v1/generations/{id}",
            "/v1/generations/{id}/images/{n}", "/v1/generations/{id}/stream", "/v1/stream", "/v1/uploads",
            "/v1/models", "/v1/samplers", "/v1/schedule", "/healthz", "/readyz", "/metrics", "/v1/openapi.json");

    @Test
    void everyEndpointIsDocumented() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            TestServer.Reply r = ts.get("/v1/openapi.json");
            assertEquals(200, r.status());
            JsonNode doc = r.json();
            assertTrue(doc.get("openapi").asText().startsWith("3."));
            for (String e : ENDPOINTS) {
                assertTrue(doc.get("paths").has(e), e + " in openapi.json");
            }
            for (String field : List.of("model", "prompt", "negative_prompt", "width", "height", "steps", "sampler",
                    "schedule", "guidance_scale", "guidance_rescale", "seed", "batch_size", "controlnets",
                    "preview")) {
                assertTrue(doc.at("/components/schemas/GenerationRequest/properties").has(field), field);
            }
        }
        Path apiMd = Path.of(System.getProperty("maven.multiModuleProjectDirectory", ".."), "docs", "api.md");
        if (!Files.exists(apiMd)) {
            apiMd = Path.of("..", "docs", "api.md");
        }
        String md = Files.readString(apiMd);
        for (String e : ENDPOINTS) {
            assertTrue(md.contains(e), e + " in docs/api.md");
        }
    }
}
