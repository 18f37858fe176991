package dev.jdiffuse.server.comfy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A refusal in ComfyUI's shape ({@code server.py} {@code post_prompt}, {@code execution.py} {@code validate_prompt}):
 * {@code {error: {type, message, details, extra_info}, node_errors: {node_id: {errors: [...], dependent_outputs,
 * class_type}}}}, each node error naming its input in {@code extra_info.input_name} and {@code details}.
 */
final class ComfyError extends RuntimeException {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    /** One error of one node: ComfyUI's {@code {type, message, details, extra_info: {input_name, ...}}}. */
    record NodeError(String type, String message, String details, String input, Object received) {

        ObjectNode json() {
            ObjectNode e = F.objectNode();
            e.put("type", type);
            e.put("message", message);
            e.put("details", details);
            ObjectNode extra = e.putObject("extra_info");
            if (input != null) {
                extra.put("input_name", input);
            }
            if (received != null) {
                extra.set("received_value", received instanceof com.fasterxml.jackson.databind.JsonNode n ? n
                        : F.textNode(String.valueOf(received)));
            }
            return e;
        }
    }

    /** The errors of the nodes of one graph, by node id, with each node's class and the outputs that needed it. */
    static final class NodeErrors {
        final Map<String, List<NodeError>> errors = new LinkedHashMap<>();
        final Map<String, String> classes = new LinkedHashMap<>();
        final Map<String, List<String>> outputs = new LinkedHashMap<>();

        void add(String node, String classType, String output, NodeError e) {
            errors.computeIfAbsent(node, k -> new ArrayList<>()).add(e);
            classes.put(node, classType);
            List<String> o = outputs.computeIfAbsent(node, k -> new ArrayList<>());
            if (output != null && !o.contains(output)) {
                o.add(output);
            }
        }

        boolean isEmpty() {
            return errors.isEmpty();
        }
    }

    private final int status;
    private final ObjectNode body;
    private Long retryAfter;

    private ComfyError(int status, ObjectNode body, String message) {
        super(message);
        this.status = status;
        this.body = body;
    }

    int status() {
        return status;
    }

    Long retryAfter() {
        return retryAfter;
    }

    ComfyError retryAfter(Long seconds) {
        this.retryAfter = seconds;
        return this;
    }

    ObjectNode body() {
        return body;
    }

    /** A refusal of the whole request (no node named): {@code node_errors} is empty. */
    static ComfyError of(int status, String type, String message, String details, Map<String, Object> extra) {
        ObjectNode b = F.objectNode();
        ObjectNode e = b.putObject("error");
        e.put("type", type);
        e.put("message", message);
        e.put("details", details == null ? "" : details);
        ObjectNode x = e.putObject("extra_info");
        if (extra != null) {
            extra.forEach((k, v) -> x.putPOJO(k, v));
        }
        b.putObject("node_errors");
        return new ComfyError(status, b, message + (details == null || details.isEmpty() ? "" : ": " + details));
    }

    /** One node's one error (the common case of a graph refusal). */
    static ComfyError node(String node, String classType, String output, NodeError e) {
        NodeErrors errors = new NodeErrors();
        errors.add(node, classType, output, e);
        return nodes(errors);
    }

    /** ComfyUI's {@code prompt_outputs_failed_validation}: {@code details} lists every error, one a line. */
    static ComfyError nodes(NodeErrors errors) {
        ObjectNode b = F.objectNode();
        ObjectNode e = b.putObject("error");
        e.put("type", "prompt_outputs_failed_validation");
        e.put("message", "Prompt outputs failed validation");
        List<String> lines = new ArrayList<>();
        ObjectNode ne = b.putObject("node_errors");
        errors.errors.forEach((node, list) -> {
            ObjectNode n = ne.putObject(node);
            var arr = n.putArray("errors");
            for (NodeError x : list) {
                arr.add(x.json());
                lines.add(x.message() + ": " + x.details() + " (node " + node + ", " + errors.classes.get(node) + ")");
            }
            var deps = n.putArray("dependent_outputs");
            errors.outputs.getOrDefault(node, List.of()).forEach(deps::add);
            n.put("class_type", errors.classes.get(node));
        });
        e.put("details", String.join("\n", lines));
        e.putObject("extra_info");
        return new ComfyError(400, b, String.join("; ", lines));
    }
}
