package dev.jdiffuse.models.checkpoint;

import dev.jdiffuse.models.nn.StateDict;

import java.util.Set;

/** Key and shape questions about a checkpoint's header (no tensor is read), for the detectors. */
final class CheckpointShapes {

    private final StateDict weights;
    private final Set<String> keys;
    private final String source;

    CheckpointShapes(StateDict weights, String source) {
        this.weights = weights;
        this.keys = weights.keys();
        this.source = source;
    }

    String source() {
        return source;
    }

    Set<String> keys() {
        return keys;
    }

    boolean has(String key) {
        return keys.contains(key);
    }

    boolean anyStartsWith(String prefix) {
        for (String k : keys) {
            if (k.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    /** The shape of {@code key}; a missing key is a {@link CheckpointFormatException} naming it. */
    long[] shape(String key) {
        if (!keys.contains(key)) {
            throw new CheckpointFormatException(source + ": expected tensor " + key + " is missing");
        }
        return weights.shape(key);
    }

    int dim(String key, int axis) {
        long[] s = shape(key);
        if (axis >= s.length) {
            throw new CheckpointFormatException(source + ": " + key + " has " + s.length + " dimensions, expected more"
                    + " than " + axis);
        }
        return Math.toIntExact(s[axis]);
    }

    /** How many {@code prefix + i + suffix} keys exist for i = 0, 1, ... (stopping at the first gap). */
    int count(String prefix, String suffix) {
        int n = 0;
        while (keys.contains(prefix + n + suffix)) {
            n++;
        }
        return n;
    }
}
