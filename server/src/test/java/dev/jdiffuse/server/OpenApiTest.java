package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.api.GenerationBody;
import org.junit.jupiter.api.Test;

import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
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
            // every field the JSON reader takes, and nothing else
            Set<String> fields = new TreeSet<>();
            for (RecordComponent c : GenerationBody.class.getRecordComponents()) {
                fields.add(c.getName().replaceAll("([A-Z])", "_$1").toLowerCase(Locale.ROOT));
            }
            Set<String> schema = new TreeSet<>();
            doc.at("/components/schemas/GenerationRequest/properties").fieldNames().forEachRemaining(schema::add);
            assertTrue(fields.size() > 30, "fields read: " + fields);
            assertEquals(fields, schema, "GenerationRequest's properties vs GenerationBody");
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
