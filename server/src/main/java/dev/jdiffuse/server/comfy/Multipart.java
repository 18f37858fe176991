package dev.jdiffuse.server.comfy;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code multipart/form-data} body (RFC 7578) already read into memory under the upload limit: its parts by field
 * name, each with its file name and bytes. Small on purpose: the body is bounded before it is parsed, nothing is
 * spilled to disk.
 */
final class Multipart {

    record Part(String name, String filename, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private static final Pattern BOUNDARY = Pattern.compile("(?i)boundary=(\"([^\"]+)\"|([^;\\s]+))");
    private static final Pattern NAME = Pattern.compile("(?i);\\s*name=\"([^\"]*)\"");
    private static final Pattern FILENAME = Pattern.compile("(?i);\\s*filename=\"([^\"]*)\"");

    private Multipart() {
    }

    /** The parts of {@code body}; IllegalArgumentException when it is not well-formed multipart. */
    static Map<String, Part> parse(String contentType, byte[] body) {
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            throw new IllegalArgumentException("send multipart/form-data with the image in the field 'image'");
        }
        Matcher m = BOUNDARY.matcher(contentType);
        if (!m.find()) {
            throw new IllegalArgumentException("the multipart Content-Type has no boundary");
        }
        byte[] delimiter = ("--" + (m.group(2) != null ? m.group(2) : m.group(3))).getBytes(StandardCharsets.US_ASCII);
        Map<String, Part> parts = new LinkedHashMap<>();
        int pos = indexOf(body, delimiter, 0);
        if (pos < 0) {
            throw new IllegalArgumentException("the body has no multipart boundary");
        }
        while (true) {
            int after = pos + delimiter.length;
            if (after + 1 < body.length && body[after] == '-' && body[after + 1] == '-') {
                return parts; // the closing delimiter
            }
            int headersStart = skipLine(body, after);
            int headersEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII), headersStart);
            if (headersStart < 0 || headersEnd < 0) {
                throw new IllegalArgumentException("a multipart part has no header end");
            }
            String headers = new String(body, headersStart, headersEnd - headersStart, StandardCharsets.UTF_8);
            int dataStart = headersEnd + 4;
            int next = indexOf(body, delimiter, dataStart);
            if (next < 0) {
                throw new IllegalArgumentException("the multipart body is not closed");
            }
            int dataEnd = next - 2; // the CRLF before the delimiter
            if (dataEnd < dataStart || body[dataEnd] != '\r' || body[dataEnd + 1] != '\n') {
                throw new IllegalArgumentException("a multipart part is not followed by CRLF");
            }
            String disposition = null;
            for (String line : headers.split("\r\n")) {
                if (line.toLowerCase(Locale.ROOT).startsWith("content-disposition:")) {
                    disposition = line;
                }
            }
            if (disposition != null) {
                Matcher n = NAME.matcher(disposition);
                Matcher f = FILENAME.matcher(disposition);
                if (n.find()) {
                    byte[] data = java.util.Arrays.copyOfRange(body, dataStart, dataEnd);
                    parts.putIfAbsent(n.group(1), new Part(n.group(1), f.find() ? f.group(1) : null, data));
                }
            }
            pos = next;
        }
    }

    private static int skipLine(byte[] b, int from) {
        for (int i = from; i + 1 < b.length; i++) {
            if (b[i] == '\r' && b[i + 1] == '\n') {
                return i + 2;
            }
        }
        return -1;
    }

    private static int indexOf(byte[] b, byte[] needle, int from) {
        if (from < 0) {
            return -1;
        }
        outer:
        for (int i = from; i <= b.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (b[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
