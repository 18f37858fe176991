package dev.jdiffuse.models.prompt;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's emphasis syntax ({@code modules/prompt_parser.py} {@code parse_prompt_attention}), reimplemented:
 * <ul>
 *   <li>{@code (text)} multiplies the weight of {@code text} by 1.1, {@code [text]} divides it by 1.1; nesting
 *       multiplies ({@code ((a))} = 1.1 * 1.1);</li>
 *   <li>{@code (text:1.3)} multiplies it by 1.3 (any {@code [+-]?[.0-9]+});</li>
 *   <li>{@code \( \) \[ \] \\} are the literal characters; a lone backslash is dropped;</li>
 *   <li>an unmatched {@code )} or {@code ]} is literal text; an unclosed {@code (} or {@code [} applies to the rest
 *       of the prompt; {@code :1.3)} with no open {@code (} is literal text;</li>
 *   <li>{@code BREAK} (a whole word, upper case) outside brackets becomes a {@link PromptSegment#breakMarker()};</li>
 *   <li>adjacent segments with equal weights are merged; an empty prompt gives one empty segment of weight 1.</li>
 * </ul>
 * Weights are computed in double precision in the same order as A1111, so they equal its Python floats exactly
 * (e.g. {@code (((house:1.3)))}'s inner part gets 1.3 * 1.1 * 1.1 = 1.5730000000000004).
 */
public final class PromptParser {

    static final double ROUND_MULTIPLIER = 1.1;
    static final double SQUARE_MULTIPLIER = 1 / 1.1;

    /**
     * A1111's {@code re_attention}, alternative by alternative: the five escapes, a lone backslash, the two openers,
     * a {@code :weight)} closer (group 1 = weight), the two closers, a run of plain text, a lone colon.
     */
    private static final Pattern ATTENTION = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:\\s*([+-]?[.\\d]+)\\s*\\)|\\)|]|[^\\\\()\\[\\]:]+|:",
            Pattern.UNICODE_CHARACTER_CLASS);
    /** A1111's {@code re_break}: BREAK as a whole word, with the whitespace around it. */
    private static final Pattern BREAK = Pattern.compile("\\s*\\bBREAK\\b\\s*",
            Pattern.DOTALL | Pattern.UNICODE_CHARACTER_CLASS);

    private PromptParser() {
    }

    /** Parses {@code prompt} into (text, weight) segments and BREAK markers. */
    public static List<PromptSegment> parse(String prompt) {
        List<String> texts = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        Deque<Integer> round = new ArrayDeque<>();
        Deque<Integer> square = new ArrayDeque<>();
        Matcher m = ATTENTION.matcher(prompt);
        while (m.find()) {
            String token = m.group();
            String weight = m.group(1);
            if (token.startsWith("\\")) {
                texts.add(token.substring(1));
                weights.add(1.0);
            } else if (token.equals("(")) {
                round.push(texts.size());
            } else if (token.equals("[")) {
                square.push(texts.size());
            } else if (weight != null && !round.isEmpty()) {
                multiplyFrom(weights, round.pop(), parseWeight(weight, prompt));
            } else if (token.equals(")") && !round.isEmpty()) {
                multiplyFrom(weights, round.pop(), ROUND_MULTIPLIER);
            } else if (token.equals("]") && !square.isEmpty()) {
                multiplyFrom(weights, square.pop(), SQUARE_MULTIPLIER);
            } else {
                String[] parts = BREAK.split(token, -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        texts.add(PromptSegment.breakMarker().text());
                        weights.add(PromptSegment.BREAK_WEIGHT);
                    }
                    texts.add(parts[i]);
                    weights.add(1.0);
                }
            }
        }
        // Unclosed brackets apply to the end, innermost (last opened) first, as A1111 iterates its stacks.
        for (Integer start : reversedStack(round)) {
            multiplyFrom(weights, start, ROUND_MULTIPLIER);
        }
        for (Integer start : reversedStack(square)) {
            multiplyFrom(weights, start, SQUARE_MULTIPLIER);
        }
        if (texts.isEmpty()) {
            texts.add("");
            weights.add(1.0);
        }
        return merged(texts, weights);
    }

    private static void multiplyFrom(List<Double> weights, int start, double multiplier) {
        for (int p = start; p < weights.size(); p++) {
            weights.set(p, weights.get(p) * multiplier);
        }
    }

    /**
     * A1111 iterates its Python list from the bottom (first opened) to the top; a Deque used as a stack iterates
     * top first, so this returns bottom first. The order matters only for rounding, which must match.
     */
    private static List<Integer> reversedStack(Deque<Integer> stack) {
        List<Integer> bottomFirst = new ArrayList<>(stack);
        java.util.Collections.reverse(bottomFirst);
        return bottomFirst;
    }

    /** Python's {@code float()} of a {@code [+-]?[.\d]+} match; Unicode digits count as digits as in Python. */
    private static double parseWeight(String weight, String prompt) {
        StringBuilder ascii = new StringBuilder(weight.length());
        for (int i = 0; i < weight.length(); i++) {
            char c = weight.charAt(i);
            ascii.append(Character.isDigit(c) ? (char) ('0' + Character.digit(c, 10)) : c);
        }
        try {
            return Double.parseDouble(ascii.toString());
        } catch (NumberFormatException e) {
            throw new PromptSyntaxException("weight '" + weight + "' is not a number in prompt: " + prompt);
        }
    }

    /** Merges runs of identical weights (A1111 compares the floats with ==). */
    private static List<PromptSegment> merged(List<String> texts, List<Double> weights) {
        List<PromptSegment> out = new ArrayList<>();
        StringBuilder text = new StringBuilder(texts.get(0));
        double weight = weights.get(0);
        for (int i = 1; i < texts.size(); i++) {
            if (weights.get(i) == weight) {
                text.append(texts.get(i));
            } else {
                out.add(new PromptSegment(text.toString(), weight));
                text = new StringBuilder(texts.get(i));
                weight = weights.get(i);
            }
        }
        out.add(new PromptSegment(text.toString(), weight));
        return List.copyOf(out);
    }
}
