package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The served OpenAPI document and docs/api.md against the routes Javalin actually registered, both ways: every route
 * is documented, every documented operation exists. WebSocket upgrades are documented as GET operations.
 */
class OpenApiTest {

    @Test
    void documentsExactlyTheRegisteredRoutes() throws Exception {
        try (TestServer ts = new TestServer(0)) {
            Set<String> registered = new TreeSet<>();
            for (String route : ts.server.routes()) {
                registered.add(route.replaceFirst("^WS ", "GET ").replaceFirst("^HEAD ", "GET "));
            }
            TestServer.Reply r = ts.get("/v1/openapi.json");
            assertEquals(200, r.status());
            JsonNode doc = r.json();
            assertTrue(doc.get("openapi").asText().startsWith("3."));
            Set<String> documented = new TreeSet<>();
            for (Iterator<String> paths = doc.get("paths").fieldNames(); paths.hasNext(); ) {
                String path = paths.next();
                doc.get("paths").get(path).fieldNames()
                        .forEachRemaining(m -> documented.add(m.toUpperCase(Locale.ROOT) + " " + path));
            }
            assertTrue(registered.size() > 10, "routes found: " + registered);
            assertEquals(registered, documented, "openapi.json operations vs registered routes");
            for (String field : List.of("model", "prompt", "negative_prompt", "width", "height", "steps", "sampler",
                    "schedule", "guidance_scale", "guidance_rescale", "seed", "batch_size", "controlnets",
                    "preview", "init_image", "strength", "subseed", "subseed_strength", "mask", "mask_blur",
                    "inpaint_full_res", "inpaint_full_res_padding", "paste_back", "outpaint", "hires", "loras",
                    "clip_skip", "prompt_syntax", "aesthetic_score", "negative_aesthetic_score", "true_cfg_scale")) {
                assertTrue(doc.at("/components/schemas/GenerationRequest/properties").has(field), field);
            }
            Path apiMd = Path.of(System.getProperty("maven.multiModuleProjectDirectory", ".."), "docs", "api.md");
            if (!Files.exists(apiMd)) {
                apiMd = Path.of("..", "docs", "api.md");
            }
            String md = Files.readString(apiMd);
            for (String route : registered) {
                String path = route.substring(route.indexOf(' ') + 1);
                assertTrue(md.contains(path), path + " in docs/api.md");
            }
        }
    }
}
