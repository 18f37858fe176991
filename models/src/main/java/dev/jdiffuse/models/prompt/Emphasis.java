package dev.jdiffuse.models.prompt;

import java.util.List;

/**
 * A1111's {@code emphasis} setting ({@code modules/sd_emphasis.py}): how the per-token weights reach the text
 * encoder's output.
 */
public enum Emphasis {
    /** No parsing at all: brackets and BREAK are plain text, every weight is 1 (A1111 "None"). */
    NONE,
    /** Parse, then {@code z *= w} per token, without renormalising (A1111 "No norm"). */
    NO_NORM,
    /** Parse, then {@code z *= w; z *= mean(z_before) / mean(z_after)} per chunk (A1111 "Original", the default). */
    ORIGINAL;

    /** The segments this setting gives for {@code prompt}. */
    public List<PromptSegment> segments(String prompt) {
        return this == NONE ? List.of(new PromptSegment(prompt, 1.0)) : PromptParser.parse(prompt);
    }
}
