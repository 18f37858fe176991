package dev.jdiffuse.models.prompt;

import java.util.List;
import java.util.Locale;

/**
 * How a request's prompt text is read: {@link #A1111} (the default) parses AUTOMATIC1111's emphasis syntax and
 * {@code BREAK} ({@link PromptParser}); {@link #PLAIN} passes the text literally, brackets included, as diffusers
 * does. Both encode prompts longer than 75 tokens in 75-token chunks (diffusers cuts them at 77).
 */
public enum PromptSyntax {
    A1111(Emphasis.ORIGINAL),
    PLAIN(Emphasis.NONE);

    private final Emphasis emphasis;

    PromptSyntax(Emphasis emphasis) {
        this.emphasis = emphasis;
    }

    /** How weights reach the text encoder's output under this syntax. */
    public Emphasis emphasis() {
        return emphasis;
    }

    /** The API's name: {@code a1111} or {@code plain}. */
    public String apiName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The syntax named {@code name} ({@code a1111} or {@code plain}); IllegalArgumentException otherwise. */
    public static PromptSyntax of(String name) {
        for (PromptSyntax s : values()) {
            if (s.apiName().equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("prompt_syntax must be a1111 or plain, got " + name);
    }

    /**
     * The text a model without prompt weighting encodes: the literal prompt under {@link #PLAIN}; under {@link #A1111}
     * the parsed text (escapes resolved) when every weight is 1 and there is no {@code BREAK}, else null.
     *
     * @throws PromptSyntaxException a weight that is not a number
     */
    public String unweightedText(String prompt) {
        if (this == PLAIN) {
            return prompt;
        }
        List<PromptSegment> segments = PromptParser.parse(prompt);
        StringBuilder text = new StringBuilder();
        for (PromptSegment s : segments) {
            if (s.isBreak() || s.weight() != 1.0) {
                return null;
            }
            text.append(s.text());
        }
        return text.toString();
    }
}
