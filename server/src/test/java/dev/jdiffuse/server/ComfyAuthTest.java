package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.auth.ApiKeys;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With {@code --api-keys} the ComfyUI routes need a key as {@code /sdapi} does (Bearer; {@code access_token} on the
 * WebSocket upgrade), and one key's prompts, history, images and messages are not another's.
 */
class ComfyAuthTest {

    static final String ALICE = ApiKeys.newKey();
    static final String BOB = ApiKeys.newKey();

    @TempDir
    static Path dir;
    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        Path keys = dir.resolve("keys");
        Files.write(keys, List.of("alice:" + ApiKeys.sha256Hex(ALICE), "bob:" + ApiKeys.sha256Hex(BOB)));
        ts = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(keys)),
                new ScriptedPipeline(0));
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    static TestServer.Reply get(String key, String path) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(ts.base + path)).GET();
        return ts.send(key == null ? b : b.header("Authorization", "Bearer " + key));
    }

    static TestServer.Reply post(String key, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(ts.base + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        return ts.send(key == null ? b : b.header("Authorization", "Bearer " + key));
    }

    @Test
    void everyRouteNeedsAKey() throws Exception {
        String body = ComfyWorkflows.body(ComfyApiTest.graph(), null);
        for (String p : List.of("", "/api")) {
            assertEquals(401, post(null, p + "/prompt", body).status(), p + "/prompt");
            for (String path : List.of("/prompt", "/queue", "/history", "/history/x", "/object_info",
                    "/object_info/KSampler", "/system_stats", "/view?filename=a.png", "/models", "/models/checkpoints",
                    "/embeddings", "/features")) {
                assertEquals(401, get(null, p + path).status(), p + path);
            }
            assertEquals(401, post(null, p + "/interrupt", "{}").status());
            assertEquals(401, post(null, p + "/upload/image", "").status());
            ExecutionException e = assertThrows(ExecutionException.class, () -> ts.http.newWebSocketBuilder()
                    .buildAsync(URI.create("ws://127.0.0.1:" + ts.server.port() + p + "/ws?clientId=x"),
                            new java.net.http.WebSocket.Listener() { }).get());
            assertTrue(e.getCause() instanceof java.net.http.WebSocketHandshakeException, e.getCause().toString());
            assertEquals(401, ((java.net.http.WebSocketHandshakeException) e.getCause()).getResponse().statusCode());
        }
        assertEquals(200, get(ALICE, "/object_info").status());
    }

    @Test
    void oneKeysPromptsAreNotAnothers() throws Exception {
        try (WsClient alice = new WsClient(ts.http, "ws://127.0.0.1:" + ts.server.port()
                + "/ws?clientId=shared&access_token=" + ALICE);
             WsClient bob = new WsClient(ts.http, "ws://127.0.0.1:" + ts.server.port()
                + "/ws?clientId=shared&access_token=" + BOB)) {
            TestServer.Reply r = post(ALICE, "/prompt", ComfyWorkflows.body(ComfyApiTest.graph(), "shared"));
            assertEquals(200, r.status(), new String(r.raw().body()));
            String id = r.json().get("prompt_id").asText();
            ComfyApiTest.untilDone(alice, id);
            JsonNode h = get(ALICE, "/history/" + id).json();
            JsonNode image = h.at("/" + id + "/outputs/9/images/0");
            String view = "/view?filename=" + image.get("filename").asText() + "&type=output";
            assertEquals(200, get(ALICE, view).status());
            assertEquals(404, get(BOB, view).status(), "bob cannot read alice's image");
            assertEquals(0, get(BOB, "/history/" + id).json().size(), "nor see her history");
            assertEquals(0, get(BOB, "/history").json().size());
            Thread.sleep(200);
            for (WsClient.Message m : bob.messages) {
                assertEquals("status", m.type(), "bob's socket with alice's client id hears only status: "
                        + m.json());
            }
            assertEquals("status", bob.next(Duration.ofSeconds(1)).type(), "bob's socket is connected");
        }
    }
}
