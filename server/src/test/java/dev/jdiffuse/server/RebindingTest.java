package dev.jdiffuse.server;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 4 over real HTTP: while bound to loopback, a foreign {@code Host} (DNS rebinding) and a foreign
 * {@code Origin} are refused on every route, reads, HEAD, the UI and WebSocket upgrades included.
 */
class RebindingTest {

    static TestServer ts;
    static int port;
    static List<String> paths;

    @BeforeAll
    static void start() throws Exception {
        ts = new TestServer(ServerOptions.defaults(), new ScriptedPipeline(0));
        port = ts.server.port();
        String id = ts.submit("{\"steps\":1}");
        ts.await(id, Duration.ofSeconds(5));
        paths = List.of("/", "/index.html", "/js/app.js", "/v1/models", "/v1/samplers", "/metrics", "/readyz",
                "/v1/openapi.json", "/v1/generations/" + id, "/v1/generations/" + id + "/images/0");
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    private static void assertRefused(RawHttp.Response r, String what) {
        assertEquals(403, r.status(), what + ": " + r.text());
        if (!r.text().isEmpty()) {
            assertEquals("forbidden_origin", r.json().at("/error/code").asText(), what);
        }
    }

    @Test
    void everyRouteAnswersItsOwnHost() throws Exception {
        for (String p : paths) {
            assertEquals(200, RawHttp.get(port, p).status(), p);
            assertEquals(200, RawHttp.send(port, "GET " + p + " HTTP/1.1\r\nHost: localhost:" + port,
                    new byte[0]).status(), p);
        }
    }

    @Test
    void aForeignHostIsRefusedOnEveryRoute() throws Exception {
        for (String method : new String[] {"GET", "HEAD"}) {
            for (String p : paths) {
                RawHttp.Response r = RawHttp.send(port, method + " " + p + " HTTP/1.1\r\nHost: evil.example:" + port,
                        new byte[0]);
                assertRefused(r, method + " " + p);
            }
        }
        RawHttp.Response ws = RawHttp.send(port, "GET /v1/stream HTTP/1.1\r\nHost: evil.example\r\n"
                + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Version: 13", new byte[0]);
        assertRefused(ws, "WS upgrade");
    }

    @Test
    void aForeignOriginIsRefusedOnReads() throws Exception {
        for (String p : paths) {
            assertRefused(RawHttp.get(port, p, "Origin: https://evil.example"), p);
            assertRefused(RawHttp.get(port, p, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors"), p);
        }
        RawHttp.Response ws = RawHttp.get(port, "/v1/stream", "Origin: https://evil.example", "Upgrade: websocket",
                "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13");
        assertRefused(ws, "WS upgrade");
        RawHttp.Response same = RawHttp.get(port, "/v1/stream", "Origin: http://127.0.0.1:" + port,
                "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13");
        assertEquals(101, same.status());
    }

    /** A POST from a sandboxed frame or a file: page ({@code Origin: null}) or a cross-site form that navigates. */
    @Test
    void anOpaqueOriginAndACrossSiteFormPostAreRefused() throws Exception {
        byte[] body = "{\"prompt\":\"from elsewhere\",\"steps\":1}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        String head = "POST /v1/generations HTTP/1.1\r\nHost: 127.0.0.1:" + port
                + "\r\nContent-Type: application/json"; // RawHttp adds the Content-Length
        assertRefused(RawHttp.send(port, head + "\r\nOrigin: null", body), "Origin: null");
        assertRefused(RawHttp.send(port, head + "\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate"
                + "\r\nSec-Fetch-Dest: document", body), "a navigating cross-site POST");
        assertRefused(RawHttp.get(port, "/v1/stream", "Origin: null", "Upgrade: websocket", "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
                "WS upgrade, Origin: null");
        assertEquals(0, ts.pipeline.runsOf("from elsewhere"));
        assertEquals(202, RawHttp.send(port, head + "\r\nOrigin: http://127.0.0.1:" + port, body).status(),
                "the same request from this server's own page");
    }

    @Test
    void aCrossSiteLinkStillOpensTheUiWhichCannotBeFramed() throws Exception {
        RawHttp.Response r = RawHttp.get(port, "/", "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate",
                "Sec-Fetch-Dest: document");
        assertEquals(200, r.status());
        assertEquals("DENY", r.header("X-Frame-Options"));
        assertTrue(r.header("Content-Security-Policy").contains("frame-ancestors 'none'"));
    }
}
