package dev.jdiffuse.server;

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
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 3 over real HTTP: API keys from a file of hashes, bearer tokens (and {@code access_token} on
 * WebSocket upgrades), 401 without a key, jobs visible and cancellable only by their owner or an admin key, per-key
 * quotas with 429 and Retry-After, a priority class, the key's name in records and metrics, and no start beyond
 * loopback without keys.
 */
class AuthTest {

    static final String ALICE = ApiKeys.newKey();
    static final String BOB = ApiKeys.newKey();
    static final String ROOT = ApiKeys.newKey();
    static final String FAST = ApiKeys.newKey();

    @TempDir
    static Path dir;
    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        Path keys = dir.resolve("keys");
        Files.write(keys, List.of("# name:sha256(key):options", "alice:" + ApiKeys.sha256Hex(ALICE)
                + ":queued=2,images_per_hour=6", "bob:" + ApiKeys.sha256Hex(BOB), "",
                "root:" + ApiKeys.sha256Hex(ROOT) + ":admin", "fast:" + ApiKeys.sha256Hex(FAST) + ":priority=high"));
        ts = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(keys)),
                new ScriptedPipeline(0));
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    private static HttpRequest.Builder as(String key, String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(ts.base + path));
        return key == null ? b : b.header("Authorization", "Bearer " + key);
    }

    private static TestServer.Reply submit(String key, String body) throws Exception {
        return ts.send(as(key, "/v1/generations").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static String accepted(String key, String body) throws Exception {
        TestServer.Reply r = submit(key, body);
        assertEquals(202, r.status(), () -> new String(r.raw().body()));
        return r.json().get("id").asText();
    }

    private static TestServer.Reply awaitEnd(String key, String id) throws Exception {
        for (int i = 0; i < 500; i++) {
            TestServer.Reply r = ts.send(as(key, "/v1/generations/" + id).GET());
            if (TestServer.TERMINAL.contains(r.json().path("status").asText())) {
                return r;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("job " + id + " did not end");
    }

    @Test
    void withoutAValidKeyTheApiIs401AndTheUiAndProbesArePublic() throws Exception {
        for (String path : new String[] {"/v1/models", "/metrics", "/v1/whoami", "/v1/generations/x"}) {
            for (String key : new String[] {null, "wrong", ALICE + "x"}) {
                TestServer.Reply r = ts.send(as(key, path).GET());
                assertEquals(401, r.status(), path);
                assertEquals("unauthorized", r.errorCode());
                assertTrue(r.header("WWW-Authenticate").startsWith("Bearer"));
            }
        }
        assertEquals(401, submit(null, "{}").status());
        for (String path : new String[] {"/", "/js/api.js", "/healthz", "/readyz", "/v1/openapi.json"}) {
            assertEquals(200, ts.get(path).status(), path);
        }
        TestServer.Reply me = ts.send(as(ALICE, "/v1/whoami").GET());
        assertEquals("alice", me.json().get("name").asText());
        assertEquals(2, me.json().get("max_queued").asInt());
    }

    @Test
    void aJobBelongsToItsKey() throws Exception {
        String id = accepted(BOB, "{\"steps\":1}");
        TestServer.Reply done = awaitEnd(BOB, id);
        assertEquals("bob", done.json().get("owner").asText());
        assertEquals(404, ts.send(as(ALICE, "/v1/generations/" + id).GET()).status(), "another key's job");
        assertEquals(404, ts.send(as(ALICE, "/v1/generations/" + id + "/images/0").GET()).status());
        assertEquals(404, ts.send(as(ALICE, "/v1/generations/" + id).DELETE()).status());
        assertEquals(200, ts.send(as(BOB, "/v1/generations/" + id + "/images/0").GET()).status());
        assertEquals(200, ts.send(as(ROOT, "/v1/generations/" + id).GET()).status(), "an admin sees every job");
        String metrics = new String(ts.send(as(ROOT, "/metrics").GET()).raw().body());
        assertTrue(metrics.matches("(?s).*jdiffuse_jobs_by_key_total\\{key=\"bob\".*"), "jobs by key in /metrics");

        String ws = ts.base.replace("http", "ws") + "/v1/generations/" + id + "/stream?access_token=";
        try (WsClient own = new WsClient(ts.http, ws + BOB)) {
            assertEquals("subscribed", own.next(Duration.ofSeconds(5)).type());
        }
        try (WsClient other = new WsClient(ts.http, ws + ALICE)) {
            assertEquals(4404, other.closed.get(5, TimeUnit.SECONDS), "another key's job is unknown");
        }
        RawHttp.Response anonymous = RawHttp.get(ts.server.port(), "/v1/generations/" + id + "/stream",
                "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13");
        assertEquals(401, anonymous.status());
    }

    @Test
    void anAdminMayCancelAnotherKeysJobAndQuotasAndPriorityHold() throws Exception {
        String held = accepted(ALICE, "{\"prompt\":\"hold\",\"steps\":2}");
        assertTrue(ts.pipeline.awaitHold(5000));
        String waiting = accepted(ALICE, "{\"steps\":1}");
        TestServer.Reply third = submit(ALICE, "{\"steps\":1}");
        assertEquals(429, third.status());
        assertEquals("quota_exceeded", third.errorCode());
        assertNotNull(third.header("Retry-After"));
        assertEquals(202, submit(BOB, "{\"steps\":1}").status(), "another key has its own quota");

        TestServer.Reply fast = submit(FAST, "{\"steps\":1}");
        assertEquals(0, fast.json().get("position").asInt(), "a high-priority job waits ahead of normal ones");
        assertEquals(1, ts.send(as(ALICE, "/v1/generations/" + waiting).GET()).json().get("position").asInt());

        assertEquals(404, ts.send(as(BOB, "/v1/generations/" + held).DELETE()).status());
        assertEquals(202, ts.send(as(ROOT, "/v1/generations/" + held).DELETE()).status());
        ts.pipeline.release();
        assertEquals("cancelled", awaitEnd(ALICE, held).json().get("status").asText());
        awaitEnd(ALICE, waiting);

        TestServer.Reply batch = submit(ALICE, "{\"steps\":1,\"batch_size\":5}");
        assertEquals(429, batch.status(), "1 + 1 + 5 images exceed 6 an hour");
        assertEquals("batch_size", batch.errorField());
        assertTrue(Long.parseLong(batch.header("Retry-After")) > 3000, "the hour's oldest images age out");
        assertEquals(202, submit(ALICE, "{\"steps\":1,\"batch_size\":4}").status());
    }

    @Test
    void keysTakeTurnsInTheQueue() throws Exception {
        try (TestServer fair = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(
                dir.resolve("keys"))), new ScriptedPipeline(0))) {
            java.util.function.BiFunction<String, String, Integer> position = (key, body) -> {
                try {
                    TestServer.Reply r = fair.send(HttpRequest.newBuilder(URI.create(fair.base + "/v1/generations"))
                            .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body)));
                    assertEquals(202, r.status(), () -> new String(r.raw().body()));
                    return r.json().get("position").asInt();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            };
            position.apply(BOB, "{\"prompt\":\"hold\",\"steps\":2}");
            assertTrue(fair.pipeline.awaitHold(5000));
            assertEquals(0, position.apply(ROOT, "{\"steps\":1}"));
            assertEquals(1, position.apply(ROOT, "{\"steps\":1}"));
            assertEquals(2, position.apply(ROOT, "{\"steps\":1}"));
            assertEquals(1, position.apply(BOB, "{\"steps\":1}"), "bob's turn comes after root's first");
            assertEquals(2, position.apply(ALICE, "{\"steps\":1}"), "then alice's, before root's second");
        }
    }

    @Test
    void hashKeyMakesAKeyAndTheLineThatAcceptsIt() {
        java.io.PrintStream before = System.out;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            assertEquals(0, Main.execute("hash-key", "carol", "--options", "queued=3"));
        } finally {
            System.setOut(before);
        }
        List<String> lines = buf.toString(java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        String key = lines.get(0).replaceFirst("^key .*: ", "");
        String line = lines.get(1);
        assertTrue(line.startsWith("carol:") && line.endsWith(":queued=3"), line);
        assertTrue(!line.contains(key), "the line holds the hash, not the key");
        var caller = ApiKeys.parse(List.of(line), "test").authenticate(key).orElseThrow();
        assertEquals("carol", caller.name());
        assertEquals(3, caller.maxActive());
        assertTrue(ApiKeys.parse(List.of(line), "test").authenticate(key + "x").isEmpty());
    }

    @Test
    void beyondLoopbackKeysAreRequiredUnlessExplicitlyWaived() {
        ServerOptions open = ServerOptions.defaults().withHost("0.0.0.0").withPort(0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new JDiffuseServer(open,
                new dev.jdiffuse.server.models.ModelRegistry(List.of())));
        assertTrue(e.getMessage().contains("--api-keys"), e.getMessage());
        new JDiffuseServer(open.withSafety(Safety.DEFAULTS.withInsecureNoAuth(true)),
                new dev.jdiffuse.server.models.ModelRegistry(List.of())).close();
        assertEquals(2, Main.execute("serve", "--host", "0.0.0.0", "--port", "0"));
    }
}
