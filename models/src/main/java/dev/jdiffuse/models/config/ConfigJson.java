package dev.jdiffuse.models.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Typed reads of a diffusers/transformers {@code config.json} with the library's defaults for absent fields and an
 * error naming the field for a value of the wrong kind. Config records are built from it and are immutable.
 */
public final class ConfigJson {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final JsonNode root;

    private ConfigJson(String source, JsonNode root) {
        this.source = source;
        this.root = root;
    }

    public static ConfigJson read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ConfigException(file.toString(), "(file)", "config file not found");
        }
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) {
                throw new ConfigException(file.toString(), "(root)", "not a JSON object");
            }
            return new ConfigJson(file.toString(), n);
        } catch (IOException e) {
            throw new ConfigException(file.toString(), "(file)", "unreadable JSON: " + e.getMessage());
        }
    }

    public static ConfigJson of(String source, JsonNode root) {
        return new ConfigJson(source, root);
    }

    public String source() {
        return source;
    }

    public JsonNode node() {
        return root;
    }

    public boolean has(String field) {
        JsonNode n = root.get(field);
        return n != null && !n.isNull();
    }

    public int getInt(String field, int dflt) {
        return get(field, dflt, n -> n.canConvertToInt() && n.isIntegralNumber(), "an integer", JsonNode::intValue);
    }

    public double getDouble(String field, double dflt) {
        return get(field, dflt, JsonNode::isNumber, "a number", JsonNode::doubleValue);
    }

    public boolean getBool(String field, boolean dflt) {
        return get(field, dflt, JsonNode::isBoolean, "true/false", JsonNode::booleanValue);
    }

    /** A string field; null when absent and {@code dflt} is null. */
    public String getString(String field, String dflt) {
        return get(field, dflt, JsonNode::isTextual, "a string", JsonNode::textValue);
    }

    /** {@code field}'s value, {@code dflt} when absent or null; a value of another kind fails naming the field. */
    private <T> T get(String field, T dflt, Predicate<JsonNode> isKind, String kind, Function<JsonNode, T> value) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!isKind.test(n)) {
            throw new ConfigException(source, field, "expected " + kind + ", got " + n);
        }
        return value.apply(n);
    }

    /** A string field restricted to {@code allowed}; anything else is an error naming the field. */
    public String getEnum(String field, String dflt, Set<String> allowed) {
        String v = getString(field, dflt);
        if (v != null && !allowed.contains(v)) {
            throw new ConfigException(source, field, "unsupported value '" + v + "' (supported: " + allowed + ")");
        }
        return v;
    }

    /** A list of integers; a single integer is repeated {@code n} times (diffusers' int-or-tuple fields). */
    public List<Integer> getIntList(String field, List<Integer> dflt, int n) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        List<Integer> out = new ArrayList<>();
        if (v.isIntegralNumber()) {
            for (int i = 0; i < n; i++) {
                out.add(v.intValue());
            }
            return List.copyOf(out);
        }
        if (!v.isArray()) {
            throw new ConfigException(source, field, "expected an integer or a list of integers, got " + v);
        }
        for (JsonNode e : v) {
            if (!e.isIntegralNumber()) {
                throw new ConfigException(source, field, "expected integers, got " + e);
            }
            out.add(e.intValue());
        }
        return List.copyOf(out);
    }

    public List<String> getStringList(String field, List<String> dflt) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isArray()) {
            throw new ConfigException(source, field, "expected a list of strings, got " + v);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw new ConfigException(source, field, "expected strings, got " + e);
            }
            out.add(e.textValue());
        }
        return List.copyOf(out);
    }

    /** Fails naming the field when a value is set to something this implementation does not support. */
    public void requireAbsentOr(String field, Object supported) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return;
        }
        Object v = n.isTextual() ? n.textValue() : n.isBoolean() ? n.booleanValue() : n.isNumber() ? n.numberValue()
                : n.toString();
        if (supported instanceof Number && v instanceof Number
                ? ((Number) supported).doubleValue() != ((Number) v).doubleValue() : !supported.equals(v)) {
            throw new ConfigException(source, field, "unsupported value " + n + " (supported: " + supported + ")");
        }
    }

}
