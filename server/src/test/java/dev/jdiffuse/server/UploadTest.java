package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Control-image uploads: formats, the header pixel check before decoding, and byte limits for any framing. */
class UploadTest {

    static final long MAX_UPLOAD = 64 * 1024;
    static TestServer ts;

    @BeforeAll
    static void start() {
        ts = new TestServer(ServerOptions.defaults().withLimits(new Limits(1024, 1024L * 1024, 50, 4, 1000, 4096,
                MAX_UPLOAD, 512L * 512, 1024)), new ScriptedPipeline(0));
    }

    @AfterAll
    static void stop() {
        ts.close();
    }

    static TestServer.Reply upload(byte[] body) throws Exception {
        return ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads")).header("Content-Type",
                "application/octet-stream").POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    }

    static byte[] encode(String format, int w, int h) throws Exception {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        img.setRGB(1, 1, 0xff0000);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, format, out);
        return out.toByteArray();
    }

    /** A PNG whose IHDR declares {@code w x h} followed by a tiny IDAT: a decompression-bomb header. */
    static byte[] bombPng(int w, int h) {
        ByteBuffer b = ByteBuffer.allocate(8 + 25 + 12 + 2 + 12);
        b.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0)
                .put((byte) 0).put((byte) 0);
        chunk(b, "IHDR", ihdr.array());
        chunk(b, "IDAT", new byte[] {0x78, 0x01});
        chunk(b, "IEND", new byte[0]);
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    private static void chunk(ByteBuffer b, String type, byte[] data) {
        b.putInt(data.length);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        b.put(t).put(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        b.putInt((int) crc.getValue());
    }

    @Test
    void pngAndJpegUploadAndFeedAControlNet() throws Exception {
        for (String format : new String[] {"png", "jpeg"}) {
            TestServer.Reply r = upload(encode(format, 40, 24));
            assertEquals(201, r.status(), () -> new String(r.raw().body()));
            assertEquals(40, r.json().get("width").asInt());
            assertEquals(24, r.json().get("height").asInt());
            assertEquals(format, r.json().get("format").asText());
            String upload = r.json().get("id").asText();
            String id = ts.submit("{\"steps\":2,\"controlnets\":[{\"model\":\"canny\",\"image\":\"" + upload
                    + "\",\"scale\":0.5,\"end\":0.8}]}");
            JsonNode done = ts.await(id, Duration.ofSeconds(5));
            assertEquals("succeeded", done.get("status").asText());
            assertEquals(upload, done.at("/parameters/controlnets/0/image").asText());
            assertEquals(0.8, done.at("/parameters/controlnets/0/end").asDouble());
        }
    }

    @Test
    void headerDeclaringTooManyPixelsIs422BeforeDecoding() throws Exception {
        byte[] bomb = bombPng(100_000, 100_000);
        assertTrue(bomb.length < 100);
        TestServer.Reply r = upload(bomb);
        assertEquals(422, r.status());
        assertEquals("too_many_pixels", r.errorCode());
        assertEquals(422, upload(bombPng(1025, 10)).status(), "one side over the limit");
    }

    /** A JPEG of a few bytes whose frame header (SOF0) declares 65000x65000: refused from the header alone. */
    @Test
    void aJpegHeaderDeclaringTooManyPixelsIs422() throws Exception {
        byte[] jpeg = encode("jpeg", 16, 16);
        int sof = -1;
        for (int i = 2; i + 8 < jpeg.length; i++) {
            if ((jpeg[i] & 0xff) == 0xff && (jpeg[i + 1] & 0xff) == 0xc0) {
                sof = i;
                break;
            }
        }
        assertTrue(sof > 0, "the JDK's JPEG has a baseline frame header");
        // FF C0, length (2), precision (1), height (2), width (2)
        jpeg[sof + 5] = (byte) 0xfd;
        jpeg[sof + 6] = (byte) 0xe8;
        jpeg[sof + 7] = (byte) 0xfd;
        jpeg[sof + 8] = (byte) 0xe8;
        TestServer.Reply r = upload(jpeg);
        assertEquals(422, r.status(), r.json().toString());
        assertEquals("too_many_pixels", r.errorCode());
        assertTrue(r.json().at("/error/message").asText().contains("65000x65000"), r.json().toString());
    }

    /** Script-carrying formats are not images this server reads, whatever their name says. */
    @Test
    void svgAndHtmlUploadsAre415() throws Exception {
        for (String text : new String[] {"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
                "<!DOCTYPE html><html><script>alert(1)</script></html>", "<?xml version=\"1.0\"?><svg/>"}) {
            TestServer.Reply r = upload(text.getBytes(StandardCharsets.UTF_8));
            assertEquals(415, r.status(), text);
            assertEquals("unsupported_media_type", r.errorCode(), text);
        }
    }

    @Test
    void notAnImageIs415AndABrokenOneIs400() throws Exception {
        TestServer.Reply r = upload("GIF89a not supported".getBytes(StandardCharsets.US_ASCII));
        assertEquals(415, r.status());
        assertEquals("unsupported_media_type", r.errorCode());
        byte[] png = encode("png", 64, 64);
        byte[] truncated = java.util.Arrays.copyOf(png, 40);
        TestServer.Reply broken = upload(truncated);
        assertEquals(400, broken.status());
        assertEquals("invalid_image", broken.errorCode());
    }

    @Test
    void uploadOverTheLimitIs413WithContentLength() throws Exception {
        TestServer.Reply r = upload(new byte[(int) MAX_UPLOAD + 1]);
        assertEquals(413, r.status());
        assertEquals("too_large", r.errorCode());
    }

    @Test
    void chunkedUploadOverTheLimitIs413() throws Exception {
        assertEquals(413, chunkedStatus("/v1/uploads", 4 * MAX_UPLOAD));
        assertEquals(413, chunkedStatus("/v1/generations", 64 * 1024));
    }

    /** Streams {@code total} bytes as chunked transfer encoding over a raw socket and returns the status code. */
    static int chunkedStatus(String path, long total) throws Exception {
        URI uri = URI.create(ts.base);
        try (Socket s = new Socket(uri.getHost(), uri.getPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + uri.getPort()
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = new byte[8192];
            java.util.Arrays.fill(chunk, (byte) ' ');
            try {
                for (long sent = 0; sent < total; sent += chunk.length) {
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } catch (java.io.IOException e) {
                // the server may stop reading once it has answered 413
            }
            InputStream in = s.getInputStream();
            StringBuilder line = new StringBuilder();
            for (int c; (c = in.read()) != -1 && c != '\n'; ) {
                line.append((char) c);
            }
            return Integer.parseInt(line.toString().split(" ")[1]);
        }
    }
}
