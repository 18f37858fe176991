package dev.jdiffuse.server.openai;

import dev.jdiffuse.server.api.HttpApi;
import io.javalin.http.Context;
import dev.jdiffuse.server.web.MultipartParts;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A {@code multipart/form-data} body as OpenAI's edit route takes it: the body is read whole through
 * {@link HttpApi#readLargeBody} (its byte limit, the slow-sender timeouts and the cap on bodies read at once, as the
 * A1111 routes' base64 bodies), then split by {@link MultipartParts} (Jetty's RFC 7578 parser, in memory). The file
 * fields are kept as bytes; every other field is UTF-8 text, given once.
 *
 * @param fields the text fields, by name
 * @param files  the file fields' contents by name, in the order sent (several when a field repeats)
 */
record MultipartForm(Map<String, String> fields, Map<String, List<byte[]>> files) {

    /** Most parts a body may have: the edit route's fields, with room to spare. */
    private static final int MAX_PARTS = 64;

    /** The body's file fields, {@code fileFields}; the rest are text. */
    static MultipartForm read(Context ctx, HttpApi api, long limit, Set<String> fileFields) {
        String type = ctx.contentType();
        if (type == null || !type.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            throw new OpenAiError(415, "unsupported_media_type", "send the edit as multipart/form-data (image, mask, "
                    + "prompt, ...), as OpenAI's images.edit does; got " + (type == null ? "no Content-Type" : type),
                    null, null);
        }
        byte[] body = api.readLargeBody(ctx, limit, "the request body");
        List<MultipartParts.Part> parts;
        try {
            parts = MultipartParts.parse(type, body, MAX_PARTS);
        } catch (IllegalArgumentException e) {
            throw new OpenAiError(400, "invalid_multipart", e.getMessage(), null, null);
        }
        Map<String, String> fields = new LinkedHashMap<>();
        Map<String, List<byte[]>> files = new LinkedHashMap<>();
        for (MultipartParts.Part part : parts) {
            String name = part.name();
            if (fileFields.contains(name)) {
                files.computeIfAbsent(name, k -> new ArrayList<>()).add(part.data());
            } else if (fields.put(name, text(name, part.data())) != null) {
                throw OpenAiError.invalid(name, "'" + name + "' is given more than once");
            }
        }
        return new MultipartForm(fields, files);
    }

    /** A text field's value as UTF-8 (anything else: 400 naming the field). */
    private static String text(String name, byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw OpenAiError.invalid(name, "'" + name + "' is not UTF-8 text");
        }
    }
}
