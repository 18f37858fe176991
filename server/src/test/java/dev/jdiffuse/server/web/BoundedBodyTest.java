package dev.jdiffuse.server.web;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The body reader against streams that behave as Jetty's request input can: a read after the declared length fails
 * (Jetty's minimum data rate check runs before every read, so the extra read that would only find the end of a small
 * body fails once the handler's thread is held up a few milliseconds), a chunked body is counted to its limit.
 */
class BoundedBodyTest {

    /** Serves {@code body} in chunks of {@code chunk} bytes; any read after the last byte throws as Jetty's does. */
    private static InputStream strict(byte[] body, int chunk) {
        return new InputStream() {
            private int at;

            @Override
            public int read() {
                throw new UnsupportedOperationException("read by byte");
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (at >= body.length) {
                    throw new org.eclipse.jetty.http.BadMessageException(408, "Request content data rate < 1024 B/s");
                }
                int n = Math.min(Math.min(len, chunk), body.length - at);
                System.arraycopy(body, at, b, off, n);
                at += n;
                return n;
            }
        };
    }

    @Test
    void aBodyOfDeclaredLengthIsNotReadPastItsEnd() {
        byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(body, BoundedBody.read(strict(body, 8192), body.length, 1024, "the body"));
        byte[] big = new byte[20_000];
        java.util.Arrays.fill(big, (byte) 'a');
        assertArrayEquals(big, BoundedBody.read(strict(big, 3000), big.length, 1 << 20, "the body"));
    }

    @Test
    void aTrickleBelowTheRateIs408() {
        byte[] body = "{\"prompt\":\"x\"}".getBytes(StandardCharsets.UTF_8);
        // declared longer than it is: the reader asks for more and the stream answers as Jetty's rate check does
        ApiException e = assertThrows(ApiException.class,
                () -> BoundedBody.read(strict(body, 4), body.length + 10, 1024, "the body"));
        assertEquals(408, e.status());
        assertEquals("body_timeout", e.body().error().code());
    }

    @Test
    void aChunkedBodyIsReadToItsEndAndCountedAgainstTheLimit() throws IOException {
        byte[] body = "{\"prompt\":\"chunked\"}".getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(body, BoundedBody.read(new ByteArrayInputStream(body), -1, 1024, "the body"));
        ApiException e = assertThrows(ApiException.class,
                () -> BoundedBody.read(new ByteArrayInputStream(new byte[2000]), -1, 1000, "the body"));
        assertEquals(413, e.status());
        ApiException declared = assertThrows(ApiException.class,
                () -> BoundedBody.read(new ByteArrayInputStream(new byte[10]), 2000, 1000, "the body"));
        assertEquals(413, declared.status());
    }
}
