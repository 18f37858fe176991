package dev.jdiffuse.server.stream;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * One outbound WebSocket message. {@link Kind#PREVIEW} frames are superseded by the next preview of the same job and
 * dropped first under pressure; {@link Kind#PROGRESS} frames (steps, queue position) are superseded by the next
 * progress of the same job; {@link Kind#DURABLE} frames (state snapshots, final events, errors) are never dropped.
 */
public record Frame(Kind kind, String jobId, String text, byte[] binary) {

    public enum Kind { PREVIEW, PROGRESS, DURABLE }

    public static Frame text(Kind kind, String jobId, String json) {
        return new Frame(kind, jobId, json, null);
    }

    /**
     * A binary frame: a 4-byte big-endian length {@code n}, {@code n} bytes of UTF-8 JSON header, then the payload.
     */
    public static Frame binary(Kind kind, String jobId, String headerJson, byte[] payload) {
        byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(4 + header.length + payload.length);
        buf.putInt(header.length).put(header).put(payload);
        return new Frame(kind, jobId, null, buf.array());
    }

    /** Approximate bytes held: UTF-16 text counts two bytes a char. */
    public long size() {
        return text != null ? 2L * text.length() : binary.length;
    }

    public boolean isText() {
        return text != null;
    }
}
