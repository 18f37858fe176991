package dev.jdiffuse.server.comfy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.comfy.ComfyError.NodeError;
import dev.jdiffuse.server.comfy.ComfyNodes.Input;
import dev.jdiffuse.server.comfy.ComfyNodes.Spec;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An API-format workflow ({@code {node_id: {class_type, inputs: {name: literal | [node_id, output_index]}}}}) checked
 * as ComfyUI's {@code execution.validate_prompt} checks it: every node's class is known; the output nodes (SaveImage,
 * PreviewImage) and everything they reach have their required inputs, links of the right length to existing nodes'
 * outputs of the expected type, literals convertible to the input's type within its min and max, combo values from
 * the list; no cycles. The errors use ComfyUI's types ({@code required_input_missing}, {@code bad_linked_input},
 * {@code return_type_mismatch}, {@code invalid_input_type}, {@code value_smaller_than_min},
 * {@code value_bigger_than_max}, {@code value_not_in_list}, {@code dependency_cycle}), all of them at once per node.
 * Inputs a class does not have are ignored, as ComfyUI ignores them.
 */
final class ComfyGraph {

    /** A link to output {@code output} of node {@code node}. */
    record Link(String node, int output) {
    }

    /** One checked node: its literal inputs converted (Long, Double, String, Boolean) and its links. */
    record Node(String id, String classType, Spec spec, Map<String, Object> values) {

        Link link(String input) {
            return values.get(input) instanceof Link l ? l : null;
        }

        long integer(String input) {
            return (Long) values.get(input);
        }

        double real(String input) {
            return (Double) values.get(input);
        }

        String text(String input) {
            return (String) values.get(input);
        }
    }

    /** Most nodes in a graph (a txt2img or img2img workflow has about ten). */
    static final int MAX_NODES = 500;

    final Map<String, Node> nodes;
    /** The output nodes, in the prompt's order. */
    final List<String> outputs;
    /** Every node's class, checked or not (for error reports). */
    final Map<String, String> classes;

    private ComfyGraph(Map<String, Node> nodes, List<String> outputs, Map<String, String> classes) {
        this.nodes = nodes;
        this.outputs = outputs;
        this.classes = classes;
    }

    Node node(String id) {
        return nodes.get(id);
    }

    /** Checks {@code prompt}; the first problem of the prompt as a whole, or every node error, as a 400. */
    static ComfyGraph check(JsonNode prompt, ComfyNodes.Choices choices) {
        if (prompt == null || !prompt.isObject()) {
            throw ComfyError.of(400, "invalid_prompt", "Invalid prompt", "prompt must be an object of nodes "
                    + "{node_id: {class_type, inputs}} (ComfyUI's API format)", null);
        }
        if (prompt.size() > MAX_NODES) {
            throw ComfyError.of(400, "invalid_prompt", "Invalid prompt", "a prompt has at most " + MAX_NODES
                    + " nodes here, got " + prompt.size(), null);
        }
        Map<String, String> classes = new LinkedHashMap<>();
        Map<String, JsonNode> raw = new LinkedHashMap<>();
        List<String> outputs = new ArrayList<>();
        for (var it = prompt.fields(); it.hasNext(); ) {
            var e = it.next();
            String id = e.getKey();
            JsonNode n = e.getValue();
            JsonNode type = n.isObject() ? n.get("class_type") : null;
            String title = n.path("_meta").path("title").asText(null);
            if (type == null || !type.isTextual()) {
                throw missing(id, null, title, "Node '" + (title != null ? title : "ID #" + id)
                        + "' has no class_type. The workflow may be corrupted or a custom node is missing.");
            }
            Spec spec = ComfyNodes.SPECS.get(type.asText());
            if (spec == null) {
                throw missing(id, type.asText(), title, "Node '" + (title != null ? title : type.asText())
                        + "' (#" + id + ", " + type.asText() + ") is not supported by jdiffuse; GET /object_info "
                        + "lists the node types it runs");
            }
            JsonNode inputs = n.get("inputs");
            if (inputs != null && !inputs.isObject()) {
                throw ComfyError.of(400, "invalid_prompt", "Invalid prompt", "inputs of node #" + id
                        + " must be an object", Map.of("node_id", id));
            }
            classes.put(id, spec.name());
            raw.put(id, n);
            if (spec.outputNode()) {
                outputs.add(id);
            }
        }
        if (outputs.isEmpty()) {
            throw ComfyError.of(400, "prompt_no_outputs", "Prompt has no outputs",
                    "add a SaveImage or PreviewImage node", null);
        }
        Checker c = new Checker(raw, classes, choices);
        for (String o : outputs) {
            c.visit(o, o, new ArrayList<>());
        }
        if (!c.errors.isEmpty()) {
            throw ComfyError.nodes(c.errors);
        }
        return new ComfyGraph(c.done, List.copyOf(outputs), classes);
    }

    private static ComfyError missing(String id, String type, String title, String message) {
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("node_id", id);
        extra.put("class_type", type);
        extra.put("node_title", title);
        return ComfyError.of(400, "missing_node_type", message, "Node ID '#" + id + "'", extra);
    }

    /** The depth-first check from each output; a node is checked once, its errors recorded once. */
    private static final class Checker {
        final Map<String, JsonNode> raw;
        final Map<String, String> classes;
        final ComfyNodes.Choices choices;
        final Map<String, Node> done = new LinkedHashMap<>();
        final Map<String, Boolean> valid = new HashMap<>();
        final ComfyError.NodeErrors errors = new ComfyError.NodeErrors();

        Checker(Map<String, JsonNode> raw, Map<String, String> classes, ComfyNodes.Choices choices) {
            this.raw = raw;
            this.classes = classes;
            this.choices = choices;
        }

        boolean visit(String id, String output, List<String> path) {
            if (path.contains(id)) {
                List<String> cycle = new ArrayList<>(path.subList(path.indexOf(id), path.size()));
                cycle.add(id);
                String text = String.join(" -> ", cycle.stream().map(n -> n + " (" + classes.get(n) + ")").toList());
                errors.add(id, classes.get(id), output, new NodeError("dependency_cycle", "Dependency cycle detected",
                        text, null, null));
                valid.put(id, false);
                return false;
            }
            Boolean known = valid.get(id);
            if (known != null) {
                List<String> deps = errors.outputs.get(id);
                if (!known && deps != null && !deps.contains(output)) {
                    deps.add(output);
                }
                return known;
            }
            path.add(id);
            Spec spec = ComfyNodes.SPECS.get(classes.get(id));
            JsonNode inputs = raw.get(id).path("inputs");
            Map<String, Object> values = new LinkedHashMap<>();
            boolean ok = true;
            List<Input> all = new ArrayList<>(spec.required());
            all.addAll(spec.optional());
            for (Input in : all) {
                JsonNode v = inputs.get(in.name());
                if (v == null || v.isNull()) {
                    if (spec.required().contains(in)) {
                        ok = fail(id, output, new NodeError("required_input_missing", "Required input is missing",
                                in.name(), in.name(), null));
                    }
                    continue;
                }
                if (v.isArray()) {
                    Object link = link(id, output, in, v, path);
                    if (link == null) {
                        ok = false;
                    } else {
                        values.put(in.name(), link);
                    }
                    continue;
                }
                if (in.isLink()) {
                    ok = fail(id, output, new NodeError("bad_linked_input", "Bad linked input, must be a length-2 "
                            + "list of [node_id, slot_index]", in.name() + ": expects a link to a " + in.type()
                            + " output", in.name(), v));
                    continue;
                }
                Object value = literal(id, output, in, v);
                if (value == null) {
                    ok = false;
                } else {
                    values.put(in.name(), value);
                }
            }
            path.remove(path.size() - 1);
            valid.put(id, ok);
            if (ok) {
                done.put(id, new Node(id, spec.name(), spec, values));
            }
            return ok;
        }

        private boolean fail(String id, String output, NodeError e) {
            errors.add(id, classes.get(id), output, e);
            return false;
        }

        private Link link(String id, String output, Input in, JsonNode v, List<String> path) {
            if (v.size() != 2 || !(v.get(0).isTextual() || v.get(0).isIntegralNumber())
                    || !v.get(1).canConvertToExactIntegral()) {
                fail(id, output, new NodeError("bad_linked_input", "Bad linked input, must be a length-2 list of "
                        + "[node_id, slot_index]", in.name(), in.name(), v));
                return null;
            }
            String from = v.get(0).asText();
            int slot = v.get(1).asInt();
            if (!in.isLink()) {
                fail(id, output, new NodeError("bad_linked_input", "Linked input where a value is expected",
                        in.name() + ": a " + in.type() + " value is expected here, not a link (this server has no "
                        + "primitive nodes)", in.name(), v));
                return null;
            }
            String fromClass = classes.get(from);
            if (fromClass == null) {
                fail(id, output, new NodeError("bad_linked_input", "Linked node does not exist", in.name()
                        + ": node '" + from + "' is not in the prompt", in.name(), v));
                return null;
            }
            List<String> outs = ComfyNodes.SPECS.get(fromClass).outputs();
            if (slot < 0 || slot >= outs.size()) {
                fail(id, output, new NodeError("bad_linked_input", "Linked output does not exist", in.name()
                        + ": node '" + from + "' (" + fromClass + ") has " + outs.size() + " output(s), not index "
                        + slot, in.name(), v));
                return null;
            }
            String received = outs.get(slot);
            if (!received.equals(in.type())) {
                fail(id, output, new NodeError("return_type_mismatch", "Return type mismatch between linked nodes",
                        in.name() + ", received_type(" + received + ") mismatch input_type(" + in.type() + ")",
                        in.name(), v));
                return null;
            }
            if (!visit(from, output, path)) {
                return null;
            }
            return new Link(from, slot);
        }

        private Object literal(String id, String output, Input in, JsonNode v) {
            if (in.options().get("max") == ComfyNodes.SEED_MAX) {
                return seed(id, output, in, v);
            }
            Object value;
            try {
                value = switch (in.type()) {
                    case "INT" -> toLong(v);
                    case "FLOAT" -> toDouble(v);
                    case "BOOLEAN" -> v.isBoolean() ? v.asBoolean() : Boolean.parseBoolean(v.asText());
                    default -> v.isValueNode() ? v.asText() : null;
                };
            } catch (NumberFormatException | ArithmeticException e) {
                value = null;
            }
            if (value == null) {
                fail(id, output, new NodeError("invalid_input_type", "Failed to convert an input value to a "
                        + in.type() + " value", in.name() + ", " + v, in.name(), v));
                return null;
            }
            Object min = in.options().get("min");
            Object max = in.options().get("max");
            if (value instanceof Number n && min instanceof Number lo && n.doubleValue() < lo.doubleValue()) {
                fail(id, output, new NodeError("value_smaller_than_min", "Value " + show(n) + " smaller than min of "
                        + show(lo), in.name(), in.name(), v));
                return null;
            }
            if (value instanceof Number n && max instanceof Number hi && n.doubleValue() > hi.doubleValue()) {
                fail(id, output, new NodeError("value_bigger_than_max", "Value " + show(n) + " bigger than max of "
                        + show(hi), in.name(), in.name(), v));
                return null;
            }
            if (in.combo() != null) {
                List<String> list = in.choices(choices);
                String s = (String) value;
                String match = ComfyNames.match(s, list, in.combo());
                if (match == null) {
                    // ComfyUI prints the list as Python does: ['a', 'b']
                    String shown = list.size() > 20 ? "(list of length " + list.size() + ")"
                            : list.stream().map(x -> "'" + x + "'").collect(java.util.stream.Collectors.joining(", ",
                                    "[", "]"));
                    fail(id, output, new NodeError("value_not_in_list", "Value not in list", in.name() + ": '" + s
                            + "' not in " + shown, in.name(), v));
                    return null;
                }
                return match;
            }
            return value;
        }

        /**
         * A seed in ComfyUI's range 0 .. 2^64 - 1 (Open WebUI draws them from all of it); the native seed is a
         * non-negative long, so seeds from 2^63 run as {@code seed - 2^63} (deterministic; the job records it).
         */
        private Object seed(String id, String output, Input in, JsonNode v) {
            java.math.BigInteger b;
            try {
                b = v.isIntegralNumber() ? v.bigIntegerValue() : v.isNumber()
                        ? new BigDecimal(v.asText()).toBigInteger() : v.isTextual()
                        ? new java.math.BigInteger(v.asText().trim()) : null;
            } catch (NumberFormatException e) {
                b = null;
            }
            if (b == null) {
                fail(id, output, new NodeError("invalid_input_type", "Failed to convert an input value to a INT "
                        + "value", in.name() + ", " + v, in.name(), v));
                return null;
            }
            if (b.signum() < 0) {
                fail(id, output, new NodeError("value_smaller_than_min", "Value " + b + " smaller than min of 0",
                        in.name(), in.name(), v));
                return null;
            }
            if (b.compareTo(ComfyNodes.SEED_MAX) > 0) {
                fail(id, output, new NodeError("value_bigger_than_max", "Value " + b + " bigger than max of "
                        + ComfyNodes.SEED_MAX, in.name(), in.name(), v));
                return null;
            }
            return b.bitLength() > 63 ? b.clearBit(63).longValueExact() : b.longValueExact();
        }

        private static String show(Number n) {
            return n instanceof Double d ? String.format(Locale.ROOT, "%s", d) : n.toString();
        }

        /** Python's {@code int(val)}: a whole number, a float truncated toward zero, or a numeric string. */
        private static Long toLong(JsonNode v) {
            if (v.isIntegralNumber()) {
                return v.bigIntegerValue().longValueExact();
            }
            if (v.isNumber()) {
                return new BigDecimal(v.asText()).toBigInteger().longValueExact();
            }
            if (v.isTextual()) {
                return Long.parseLong(v.asText().trim());
            }
            return null;
        }

        private static Double toDouble(JsonNode v) {
            if (v.isNumber()) {
                return v.asDouble();
            }
            if (v.isTextual()) {
                double d = Double.parseDouble(v.asText().trim());
                return Double.isFinite(d) ? d : null;
            }
            return null;
        }
    }
}
