package dev.jdiffuse.server.web;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.type.LogicalType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.stream.Collectors;

/**
 * The server's one Jackson mapper, hardened for untrusted input (reliability notes R5): unknown properties, trailing
 * tokens, nulls for primitives, floats for ints and strings for numbers all fail; nesting, number and string lengths
 * are bounded; no polymorphic typing anywhere. Parse errors become {@link ApiException}s (400) naming the field.
 */
public final class Json {

    private final ObjectMapper mapper;

    public Json(int maxStringChars) {
        JsonMapper m = JsonMapper.builder()
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
                .build();
        m.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
        m.coercionConfigFor(LogicalType.Float).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
        m.coercionConfigFor(LogicalType.Textual).setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        m.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(32)
                .maxNumberLength(40).maxStringLength(Math.max(64 * 1024, maxStringChars * 4)).build());
        this.mapper = m;
    }

    public ObjectMapper mapper() {
        return mapper;
    }

    /** Parses {@code body} as {@code type}; every failure is a 400 {@link ApiException}. */
    public <T> T parse(byte[] body, Class<T> type) {
        if (body.length == 0) {
            throw new ApiException(400, "malformed_json", "the request body is empty; send a JSON object", null);
        }
        try {
            T value = mapper.readValue(body, type);
            if (value == null) {
                throw new ApiException(400, "malformed_json", "the request body must be a JSON object", null);
            }
            return value;
        } catch (UnrecognizedPropertyException e) {
            String field = path(e);
            throw new ApiException(400, "unknown_field", "unknown field '" + field + "'", field);
        } catch (MismatchedInputException e) {
            String field = path(e);
            if (field.isEmpty()) {
                throw new ApiException(400, "malformed_json", "the request body must be one JSON object", null);
            }
            throw new ApiException(400, "invalid_type", "field '" + field + "' has the wrong type", field);
        } catch (JsonMappingException e) {
            // a value the parser refused inside a field: an integer out of its type's range, a string or number
            // longer than the stream limits; the path names the field
            String field = path(e);
            if (field.isEmpty()) {
                throw new ApiException(400, "malformed_json", "the request body is not valid JSON", null);
            }
            String why = rootCause(e) instanceof StreamConstraintsException ? "is too long"
                    : "is out of range for its type";
            throw new ApiException(400, "invalid_value", "field '" + field + "' " + why, field);
        } catch (StreamConstraintsException e) {
            String field = parserPath(e);
            throw new ApiException(400, field == null ? "malformed_json" : "invalid_value", field == null
                    ? "the JSON nests too deep or holds a too long value" : "field '" + field + "' is too long",
                    field);
        } catch (InputCoercionException e) {
            String field = parserPath(e);
            throw new ApiException(400, field == null ? "malformed_json" : "invalid_value", field == null
                    ? "a number is out of range" : "field '" + field + "' is out of range for its type", field);
        } catch (JsonProcessingException e) {
            throw new ApiException(400, "malformed_json", "the request body is not valid JSON: "
                    + e.getOriginalMessage(), null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    /** The JSON path the parser was at when it failed ({@code a.b[2].c}), or null at the top level. */
    private static String parserPath(JsonProcessingException e) {
        if (!(e.getProcessor() instanceof JsonParser p)) {
            return null;
        }
        java.util.ArrayDeque<String> parts = new java.util.ArrayDeque<>();
        for (JsonStreamContext c = p.getParsingContext(); c != null && !c.inRoot(); c = c.getParent()) {
            if (c.inArray()) {
                parts.addFirst("[" + Math.max(0, c.getCurrentIndex()) + "]");
            } else if (c.getCurrentName() != null) {
                parts.addFirst("." + c.getCurrentName());
            }
        }
        String path = String.join("", parts).replaceFirst("^\\.", "");
        return path.isEmpty() ? null : path;
    }

    private static String path(JsonMappingException e) {
        return e.getPath().stream().map(r -> r.getFieldName() != null ? "." + r.getFieldName()
                : "[" + r.getIndex() + "]").collect(Collectors.joining()).replaceFirst("^\\.", "");
    }

    public String write(Object value) {
        try {
            return mapper.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public byte[] writeBytes(Object value) {
        try {
            return mapper.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses a small trusted-shape JSON text (WebSocket control messages) into a tree; null if malformed. */
    public com.fasterxml.jackson.databind.JsonNode tree(String text) {
        try {
            return mapper.readTree(text);
        } catch (JsonProcessingException e) {
            return null;
        }
    }
}
