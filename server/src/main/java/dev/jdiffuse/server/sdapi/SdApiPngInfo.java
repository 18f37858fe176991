package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.images.ImageDecoder;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngTextChunks;
import dev.jdiffuse.server.web.BoundedBody;

import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code POST /sdapi/v1/png-info}, A1111's {@code pnginfoapi}: {@code {"image": base64 or data URL}} answered with
 * {@code {info, items, parameters}} ({@code PNGInfoResponse}): {@code info} the image's {@code parameters} text (""
 * when it has none), {@code items} its other text chunks by keyword, {@code parameters} the infotext parsed as A1111
 * parses it ({@link A1111Infotext}). Only PNG text is read (A1111 also reads a JPEG's or WebP's EXIF comment; this
 * server writes PNGs only): a JPEG or WebP answers no text. The image is not decoded, only its chunks walked.
 */
final class SdApiPngInfo {

    private final long maxImageBytes;

    SdApiPngInfo(long maxImageBytes) {
        this.maxImageBytes = maxImageBytes;
    }

    Map<String, Object> run(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw SdApiError.type("body", "dict");
        }
        JsonNode node = body.get("image");
        if (node == null || node.isNull()) {
            throw SdApiError.invalid("image", "field required: a base64 image or a data URL");
        }
        if (!node.isTextual()) {
            throw SdApiError.type("image", "str");
        }
        String s = node.asText().strip();
        if (s.isEmpty()) {
            return answer("", Map.of(), Map.of()); // A1111: an empty image has no info
        }
        byte[] bytes = decode(s);
        if (bytes.length > maxImageBytes) {
            throw SdApiError.of(413, "too_large", BoundedBody.tooLarge(maxImageBytes, "the image").getMessage(),
                    "image", null, null);
        }
        String format = ImageDecoder.sniff(bytes);
        if (format == null) {
            throw SdApiError.invalid("image", "not a PNG, JPEG or WebP image");
        }
        Map<String, String> items = new LinkedHashMap<>();
        if (format.equals("png")) {
            try {
                items.putAll(PngTextChunks.read(bytes));
            } catch (PngTextChunks.Malformed e) {
                throw SdApiError.invalid("image", "the PNG cannot be read: " + e.getMessage());
            }
        }
        String info = items.remove(ImageMetadata.A1111_KEYWORD);
        if (info == null) {
            info = "";
        }
        return answer(info, items, A1111Infotext.parse(info));
    }

    private static Map<String, Object> answer(String info, Map<String, String> items, Map<String, Object> params) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("info", info);
        out.put("items", items);
        out.put("parameters", params);
        return out;
    }

    /** Base64, with or without a {@code data:image/...;base64,} prefix (422 naming {@code image} when not). */
    private static byte[] decode(String s) {
        String b64 = s;
        if (b64.startsWith("data:")) {
            int comma = b64.indexOf(',');
            b64 = comma < 0 ? "" : b64.substring(comma + 1);
        }
        try {
            byte[] bytes = Base64.getMimeDecoder().decode(b64);
            if (bytes.length == 0) {
                throw SdApiError.invalid("image", "not valid base64");
            }
            return bytes;
        } catch (IllegalArgumentException e) {
            throw SdApiError.invalid("image", "not valid base64");
        }
    }
}
