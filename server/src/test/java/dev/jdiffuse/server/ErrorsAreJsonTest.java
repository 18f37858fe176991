package dev.jdiffuse.server;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12, item 5 over real HTTP: whatever a client sends, the answer is the API's JSON error (never Jetty's HTML,
 * never a stack trace), with the field named when one is at fault, strict media type and UTF-8, canonical image
 * indices, CRC-checked PNGs, and the hardening headers on every response.
 */
class ErrorsAreJsonTest {

    static TestServer ts;
    static int port;

    @BeforeAll
    static void start() {
        ts = new TestServer(ServerOptions.defaults(), new ScriptedPipeline(0));
        port = ts.server.port();
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    private static RawHttp.Response post(String path, String contentType, byte[] body) throws Exception {
        return RawHttp.send(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nContent-Type: "
                + contentType, body);
    }

    private static void assertApiError(RawHttp.Response r, int status, String code, String field) {
        assertEquals(status, r.status(), r::text);
        assertTrue(r.isApiError(), () -> "not the API's JSON: " + r.text());
        assertFalse(r.text().contains("Exception") || r.text().contains("at org.") || r.text().contains("<html"),
                r::text);
        if (code != null) {
            assertEquals(code, r.json().at("/error/code").asText(), r::text);
        }
        if (field != null) {
            assertEquals(field, r.json().at("/error/field").asText(), r::text);
        }
        assertEquals("nosniff", r.header("X-Content-Type-Options"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1/generations/%u0041", "/v1/generations/%zz/images/0", "/v1/generations/%4",
            "/v1/generations/%C0%AF", "/v1/generations/%ED%A0%80", "/v1/generations/x/images/%FF"})
    void malformedEscapesInThePathAre400(String path) throws Exception {
        assertApiError(RawHttp.get(port, path), 400, null, null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1/generations/%u0041/stream", "/v1/generations/%C0%AE%C0%AE/stream",
            "/v1/stream/%zz", "/v1/generations/%zz/stream", "/v1/generations/..%2f..%2f/stream",
            "/v1/generations/a%5Cb/stream", "/v1/generations/a%00/stream"})
    void malformedWebSocketUpgradesAre4xxJson(String path) throws Exception {
        RawHttp.Response r = RawHttp.get(port, path, "Upgrade: websocket", "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13");
        assertTrue(r.status() >= 400 && r.status() < 500, () -> r.status() + " " + r.text());
        assertApiError(r, r.status(), null, null);
    }

    /** A well-formed but unknown id (traversal-looking ones included) upgrades, then closes cleanly with 4404. */
    @ParameterizedTest
    @ValueSource(strings = {"/v1/generations/nope/stream", "/v1/generations/..%252f../stream",
            "/v1/generations/%2e%2e/stream"})
    void unknownIdsCloseWith4404(String path) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n"
                    + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Version: 13\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            InputStream in = s.getInputStream();
            RawHttp.Response r = RawHttp.read(in);
            if (r.status() != 101) {
                assertApiError(r, r.status(), null, null);
                assertTrue(r.status() >= 400 && r.status() < 500, r::text);
                return;
            }
            int opcode = in.read() & 0x0f;
            int length = in.read() & 0x7f;
            byte[] payload = in.readNBytes(length);
            assertEquals(0x8, opcode, "a close frame");
            assertEquals(4404, (payload[0] & 0xff) << 8 | (payload[1] & 0xff));
        }
    }

    @Test
    void jettysOwnRefusalsAreJson() throws Exception {
        assertApiError(RawHttp.send(port, "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                + "x".repeat(20_000), new byte[0]), 431, null, null);
        assertApiError(RawHttp.send(port, "GET /v1/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1", new byte[0]), 400,
                null, null);
        assertApiError(RawHttp.send(port, "BREW /v1/models HTTP/1.1\r\nHost: 127.0.0.1", new byte[0]), 404, null,
                null);
    }

    @Test
    void hugeIntegersAndLongStringsNameTheirField() throws Exception {
        byte[] steps = "{\"steps\": 2147483648}".getBytes(StandardCharsets.UTF_8);
        assertApiError(post("/v1/generations", "application/json", steps), 400, "invalid_value", "steps");
        byte[] seed = "{\"seed\": 99999999999999999999}".getBytes(StandardCharsets.UTF_8);
        assertApiError(post("/v1/generations", "application/json", seed), 400, "invalid_value", "seed");
        byte[] nested = "{\"preview\":{\"every\": 1e99}}".getBytes(StandardCharsets.UTF_8);
        assertApiError(post("/v1/generations", "application/json", nested), 400, null, "preview.every");
        byte[] prompt = ("{\"prompt\":\"" + "x".repeat(250_000) + "\"}").getBytes(StandardCharsets.UTF_8);
        assertApiError(post("/v1/generations", "application/json", prompt), 400, "invalid_value", "prompt");
    }

    /** JSON's non-finite numbers and duplicate keys are refused; a leading byte-order mark is read past. */
    @Test
    void nonFiniteNumbersAndDuplicateKeysAreRefused() throws Exception {
        String[][] cases = {
            {"{\"guidance_scale\": NaN}", "malformed_json", null},
            {"{\"guidance_scale\": Infinity}", "malformed_json", null},
            {"{\"guidance_scale\": -Infinity}", "malformed_json", null},
            {"{\"guidance_scale\": 1e400}", null, "guidance_scale"},
            {"{\"guidance_scale\": -1e400}", null, "guidance_scale"},
            {"{\"steps\": 1, \"steps\": 2}", null, null},
        };
        for (String[] c : cases) {
            RawHttp.Response r = post("/v1/generations", "application/json", c[0].getBytes(StandardCharsets.UTF_8));
            assertApiError(r, 400, c[1], c[2]);
        }
        // RFC 8259 section 8.1: a parser MAY ignore a byte-order mark (Windows PowerShell 5 sends one)
        byte[] bom = "\uFEFF{\"steps\":1}".getBytes(StandardCharsets.UTF_8);
        assertEquals(202, post("/v1/generations", "application/json", bom).status());
    }

    @Test
    void onlyJsonInUtf8IsAccepted() throws Exception {
        byte[] ok = "{\"steps\":1}".getBytes(StandardCharsets.UTF_8);
        assertEquals(202, post("/v1/generations", "application/json; charset=utf-8", ok).status());
        for (String type : new String[] {"application/jsonp", "application/json-patch+json", "text/json",
                "application/json; charset=latin1", "application/x-www-form-urlencoded"}) {
            assertApiError(post("/v1/generations", type, ok), 415, "unsupported_media_type", null);
        }
        for (byte[] bad : new byte[][] {
                {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xC0, (byte) 0xAF, '"', '}'},
                {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xE0, (byte) 0x80, (byte) 0xAF, '"',
                        '}'},
                {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"',
                        '}'},
                {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xFF, '"', '}'}}) {
            assertApiError(post("/v1/generations", "application/json", bad), 400, "malformed_json", null);
        }
    }

    @Test
    void imageIndicesAreCanonicalAsciiDecimals() throws Exception {
        String id = ts.submit("{\"steps\":1}");
        ts.await(id, Duration.ofSeconds(5));
        assertEquals(200, RawHttp.get(port, "/v1/generations/" + id + "/images/0").status());
        for (String n : new String[] {"-0", "+0", "00", "%D9%A0", "%EF%BC%90", "0x0", "%200", "1e0"}) {
            assertApiError(RawHttp.get(port, "/v1/generations/" + id + "/images/" + n), 404, "not_found", null);
        }
    }

    @Test
    void pngsWithABadCrcAreRefused() throws Exception {
        byte[] png = UploadTest.encode("png", 16, 16);
        assertEquals(201, post("/v1/uploads", "image/png", png).status());
        byte[] corrupt = png.clone();
        corrupt[8 + 8 + 5] ^= 1; // a byte of IHDR's data: the width
        assertApiError(post("/v1/uploads", "image/png", corrupt), 400, "invalid_image", null);
        byte[] badCrc = png.clone();
        badCrc[badCrc.length - 1] ^= 1; // IEND's CRC
        assertApiError(post("/v1/uploads", "image/png", badCrc), 400, "invalid_image", null);
    }

    @Test
    void everyResponseCarriesTheHardeningHeaders() throws Exception {
        for (String path : new String[] {"/", "/index.html", "/js/app.js", "/v1/models", "/metrics", "/healthz",
                "/v1/nothing"}) {
            RawHttp.Response r = RawHttp.get(port, path);
            assertEquals("nosniff", r.header("X-Content-Type-Options"), path);
            assertEquals("DENY", r.header("X-Frame-Options"), path);
            assertTrue(r.header("Content-Security-Policy").contains("frame-ancestors 'none'"), path);
        }
    }
}
