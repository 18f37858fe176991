package dev.jdiffuse.models.pipeline.dit;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.InvalidRequestException;

import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Class names of a class-conditional model, as diffusers' {@code DiTPipeline.__init__}/{@code get_label_ids}: the
 * {@code id2label} map ({@code {"0": "tench, Tinca tinca", ...}}) of {@code model_index.json} (or of the
 * transformer's {@code config.json}); each value is split at commas into synonyms, each naming that id.
 *
 * <p>How a {@link GenerationRequest} picks the class: {@code class_label} when set; otherwise the {@code prompt}, which is
 * either a class index ("207") or a class name ("golden retriever", matched exactly, then ignoring case). The
 * negative prompt is not used: the unconditional branch is the null class.
 */
final class DitClassLabels {

    private final int numClasses;
    private final Map<String, Integer> byName;
    private final Map<String, Integer> byLowerName;

    private DitClassLabels(int numClasses, Map<String, Integer> byName) {
        this.numClasses = numClasses;
        this.byName = byName;
        this.byLowerName = new TreeMap<>();
        byName.forEach((k, v) -> byLowerName.putIfAbsent(k.toLowerCase(Locale.ROOT), v));
    }

    /**
     * @param id2label the {@code id2label} object, or null/missing when the folder names no classes
     * @param numClasses {@code num_embeds_ada_norm}: valid labels are [0, numClasses)
     */
    static DitClassLabels of(JsonNode id2label, int numClasses) {
        Map<String, Integer> names = new TreeMap<>();
        if (id2label != null && id2label.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = id2label.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                int id = Integer.parseInt(e.getKey().trim());
                for (String synonym : e.getValue().asText().split(",")) {
                    names.put(synonym.strip(), id);
                }
            }
        }
        return new DitClassLabels(numClasses, names);
    }

    /** Every known class name (synonyms included), sorted. */
    List<String> names() {
        return List.copyOf(byName.keySet());
    }

    /** What is wrong with {@code r}'s class, if anything. */
    List<FieldError> check(GenerationRequest r) {
        try {
            resolve(r);
            return List.of();
        } catch (InvalidRequestException e) {
            return e.errors();
        }
    }

    /**
     * The class id of {@code r} (see the class comment).
     *
     * @throws InvalidRequestException naming {@code class_label} or {@code prompt}
     */
    int resolve(GenerationRequest r) {
        if (r.classLabel() != null) {
            return checked(r.classLabel(), "class_label");
        }
        String p = r.prompt().strip();
        if (p.isEmpty()) {
            throw refused("prompt", "a class-conditional model needs a class: give class_label, or a "
                    + "class index or name as the prompt");
        }
        if (p.chars().allMatch(Character::isDigit)) {
            try {
                return checked(Integer.parseInt(p), "prompt");
            } catch (NumberFormatException e) {
                throw refused("prompt", "class " + p + " outside [0, " + numClasses + ")");
            }
        }
        Integer id = byName.get(p);
        if (id == null) {
            id = byLowerName.get(p.toLowerCase(Locale.ROOT));
        }
        if (id == null) {
            throw refused("prompt", byName.isEmpty()
                    ? "this model names no classes (no id2label): give a class index in [0, " + numClasses + ")"
                    : "unknown class '" + p + "' (" + byName.size() + " names known, e.g. "
                            + names().subList(0, Math.min(5, byName.size())) + ")");
        }
        return checked(id, "prompt");
    }

    private int checked(int label, String field) {
        if (label < 0 || label >= numClasses) {
            throw refused(field, "class " + label + " outside [0, " + numClasses + ")");
        }
        return label;
    }

    private static InvalidRequestException refused(String field, String message) {
        return new InvalidRequestException(FieldError.invalid(field, message));
    }
}
