package dev.jdiffuse.models.prompt;

/**
 * One run of prompt text with its emphasis weight, or a {@code BREAK} marker. A1111 represents the marker as the pair
 * ({@code "BREAK"}, -1) and recognises it by that exact pair; this record keeps that representation so every quirk
 * follows (a {@code BREAK} inside brackets gets its weight multiplied and becomes ordinary text).
 *
 * @param text the text, tokenized as one piece
 * @param weight the multiplier of every token of {@code text}
 */
public record PromptSegment(String text, double weight) {

    /** A1111's weight for a BREAK marker. */
    public static final double BREAK_WEIGHT = -1.0;
    private static final String BREAK = "BREAK";

    public PromptSegment {
        if (text == null) {
            throw new IllegalArgumentException("text is null");
        }
    }

    public static PromptSegment breakMarker() {
        return new PromptSegment(BREAK, BREAK_WEIGHT);
    }

    /** True for the marker that ends a 75-token chunk early (A1111: {@code text == 'BREAK' and weight == -1}). */
    public boolean isBreak() {
        return BREAK.equals(text) && weight == BREAK_WEIGHT;
    }
}
