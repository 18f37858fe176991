package dev.jdiffuse.server.web;

import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.http.Part;
import org.eclipse.jetty.server.MultiPartFormInputStream;

import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A {@code multipart/form-data} body (RFC 7578) already read whole under a byte limit (e.g.
 * {@code HttpApi.readLargeBody}), split by Jetty's parser held in memory: no temporary files, at most
 * {@code maxParts} parts. The compatibility layers' upload routes (OpenAI's edits, ComfyUI's image upload) share it.
 */
public final class MultipartParts {

    /** One part: its field name, its file name (null for a plain field) and its bytes. */
    public record Part(String name, String filename, byte[] data) {

        /** The bytes as UTF-8 text (malformed sequences replaced). */
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private MultipartParts() {
    }

    /**
     * The parts of {@code body} in the order sent.
     *
     * @throws IllegalArgumentException not {@code multipart/form-data}, malformed, or more than {@code maxParts}
     *     parts (the message says which)
     */
    public static List<Part> parse(String contentType, byte[] body, int maxParts) {
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            throw new IllegalArgumentException("expected multipart/form-data, got "
                    + (contentType == null ? "no Content-Type" : contentType));
        }
        // every part stays in memory: the threshold for writing one to a file is above the whole (bounded) body
        int threshold = (int) Math.min(Integer.MAX_VALUE, (long) body.length + 1);
        String tmp = System.getProperty("java.io.tmpdir");
        MultiPartFormInputStream parser = new MultiPartFormInputStream(new ByteArrayInputStream(body), contentType,
                new MultipartConfigElement(tmp, -1, -1, threshold), new File(tmp), maxParts);
        List<Part> out = new ArrayList<>();
        try {
            for (jakarta.servlet.http.Part p : parser.getParts()) {
                try (InputStream in = p.getInputStream()) {
                    out.add(new Part(p.getName(), p.getSubmittedFileName(), in.readAllBytes()));
                }
            }
        } catch (IOException | IllegalStateException e) {
            throw new IllegalArgumentException("the multipart/form-data body could not be read: " + e.getMessage(),
                    e);
        } finally {
            parser.deleteParts();
        }
        return out;
    }
}
