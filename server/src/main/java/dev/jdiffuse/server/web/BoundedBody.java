package dev.jdiffuse.server.web;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads a request body up to a byte limit whatever its framing: a declared {@code Content-Length} over the limit is
 * refused before reading, and a chunked body is counted while it streams and refused at the first byte past the
 * limit (413), so neither can grow memory beyond the limit. A body that stalls past the connector's idle timeout or
 * trickles in below Jetty's minimum data rate is 408 {@code body_timeout}.
 */
public final class BoundedBody {

    private BoundedBody() {
    }

    public static byte[] read(InputStream in, long contentLength, long limit, String what) {
        if (contentLength > limit) {
            throw tooLarge(limit, what);
        }
        int initial = (int) Math.min(limit, contentLength > 0 ? contentLength : 8192);
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(initial, 16));
        byte[] buf = new byte[8192];
        long total = 0;
        try {
            // a body of a declared length is read up to that length and no further: Jetty checks its minimum data
            // rate at every read, against the time since the body's first byte, so the read that would only find the
            // end of a small body (a 2-byte "{}" needs 1024 B/s x 3 ms > 2 bytes) fails with 408 whenever the
            // handler's thread is held up a few milliseconds between its reads (seen on a loaded 2-core machine)
            for (int n; (contentLength < 0 || total < contentLength)
                    && (n = in.read(buf, 0, (int) Math.min(buf.length, contentLength < 0 ? buf.length
                            : contentLength - total))) > 0; ) {
                total += n;
                if (total > limit) {
                    throw tooLarge(limit, what);
                }
                out.write(buf, 0, n);
            }
        } catch (org.eclipse.jetty.http.BadMessageException e) {
            // Jetty's minimum request data rate: a body trickling in slower than the server allows
            throw new ApiException(408, "body_timeout", "the request body arrived too slowly", null);
        } catch (IOException e) {
            if (e.getCause() instanceof java.util.concurrent.TimeoutException
                    || e instanceof java.io.InterruptedIOException) {
                throw new ApiException(408, "body_timeout", "the request body stalled", null);
            }
            throw new ApiException(400, "bad_request", "the request body could not be read", null);
        }
        return out.toByteArray();
    }

    public static ApiException tooLarge(long limit, String what) {
        return new ApiException(413, "too_large", what + " is larger than the limit of " + limit + " bytes", null);
    }
}
