package dev.jdiffuse.models.nn;

import java.util.List;

/** A checkpoint does not fit the architecture its config describes; lists every problem at once. */
public final class WeightMismatchException extends RuntimeException {

    private final List<String> missing;
    private final List<String> unexpected;
    private final List<String> wrongShape;

    public WeightMismatchException(String what, List<String> missing, List<String> unexpected,
            List<String> wrongShape) {
        super(message(what, missing, unexpected, wrongShape));
        this.missing = List.copyOf(missing);
        this.unexpected = List.copyOf(unexpected);
        this.wrongShape = List.copyOf(wrongShape);
    }

    private static String message(String what, List<String> missing, List<String> unexpected,
            List<String> wrongShape) {
        StringBuilder sb = new StringBuilder("weights of ").append(what).append(" do not fit its config:");
        if (!missing.isEmpty()) {
            sb.append("\n  missing keys (").append(missing.size()).append("): ").append(String.join(", ", missing));
        }
        if (!unexpected.isEmpty()) {
            sb.append("\n  unexpected keys (").append(unexpected.size()).append("): ")
                    .append(String.join(", ", unexpected));
        }
        if (!wrongShape.isEmpty()) {
            sb.append("\n  wrong shapes (").append(wrongShape.size()).append("): ")
                    .append(String.join(", ", wrongShape));
        }
        return sb.toString();
    }

    public List<String> missing() {
        return missing;
    }

    public List<String> unexpected() {
        return unexpected;
    }

    public List<String> wrongShape() {
        return wrongShape;
    }
}
