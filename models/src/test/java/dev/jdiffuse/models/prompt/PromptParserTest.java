package dev.jdiffuse.models.prompt;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pins {@link PromptParser} to A1111's {@code parse_prompt_attention}: first the examples of its docstring (the
 * spec; weights there are Python floats, which are IEEE doubles like Java's), then edge cases worked out by hand from
 * its regex and bracket stacks.
 */
class PromptParserTest {

    private static final double UP = 1.1;
    private static final double DOWN = 1 / 1.1;

    private static PromptSegment s(String text, double weight) {
        return new PromptSegment(text, weight);
    }

    private static void parses(String prompt, PromptSegment... expected) {
        assertEquals(List.of(expected), PromptParser.parse(prompt), prompt);
    }

    // --- A1111's docstring ---

    @Test
    void docstringExamples() {
        parses("normal text", s("normal text", 1.0));
        parses("an (important) word", s("an ", 1.0), s("important", 1.1), s(" word", 1.0));
        parses("(unbalanced", s("unbalanced", 1.1));
        parses("\\(literal\\]", s("(literal]", 1.0));
        parses("(unnecessary)(parens)", s("unnecessaryparens", 1.1));
        parses("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                s("a ", 1.0),
                s("house", 1.5730000000000004),
                s(" ", 1.1),
                s("on", 1.0),
                s(" a ", 1.1),
                s("hill", 0.55),
                s(", sun, ", 1.1),
                s("sky", 1.4641000000000006),
                s(".", 1.1));
    }

    // --- brackets ---

    @Test
    void nestedRoundAndSquareBrackets() {
        parses("((word))", s("word", UP * UP));
        parses("[word]", s("word", DOWN));
        parses("[[word]]", s("word", DOWN * DOWN));
        parses("[a](b)", s("a", DOWN), s("b", UP));
    }

    @Test
    void explicitWeightsAllowSpacesAndSigns() {
        parses("(word:1.3)", s("word", 1.3));
        parses("(word: 1.3 )", s("word", 1.3));
        parses("(word:.5)", s("word", 0.5));
        parses("(word:-1)", s("word", -1.0));
        // An explicit weight inside an implicit one: 0.5 first, then the outer 1.1.
        parses("((word:0.5))", s("word", 0.5 * UP));
    }

    @Test
    void aColonWithoutANumberIsText() {
        // ':' alone is text; the closing ')' then gives the plain 1.1.
        parses("(a:x)", s("a:x", 1.1));
        parses("time: 5", s("time: 5", 1.0));
    }

    @Test
    void weightCloserWithoutAnOpenBracketIsText() {
        parses("a:1.5)", s("a:1.5)", 1.0));
    }

    @Test
    void unmatchedClosersAreText() {
        parses("a)", s("a)", 1.0));
        parses("a]", s("a]", 1.0));
        parses(")(a)", s(")", 1.0), s("a", 1.1));
    }

    @Test
    void unclosedOpenersApplyToTheEnd() {
        // The ')' closes the inner '(' (1.1); the outer one is never closed and multiplies to the end (1.1 again).
        parses("((a)", s("a", UP * UP));
        parses("[a", s("a", DOWN));
        parses("x (a [b", s("x ", 1.0), s("a ", UP), s("b", UP * DOWN));
    }

    @Test
    void crossedBracketsCloseTheirOwnKind() {
        // '(' at 0 and '[' at 1; ')' multiplies a and b by 1.1, ']' multiplies b and c by 1/1.1.
        parses("(a[b)c]", s("a", UP), s("b", UP * DOWN), s("c", DOWN));
    }

    @Test
    void escapes() {
        parses("\\(a\\)", s("(a)", 1.0));
        parses("\\[a\\]", s("[a]", 1.0));
        parses("a\\\\b", s("a\\b", 1.0));
        // A lone backslash before another character is dropped (A1111's '\\' alternative keeps text[1:] = "").
        parses("a\\b", s("ab", 1.0));
        // Escaped parentheses inside real ones.
        parses("(\\(a\\))", s("(a)", 1.1));
    }

    @Test
    void emptyPromptIsOneEmptySegment() {
        parses("", s("", 1.0));
        // Brackets around nothing produce no segment at all.
        parses("()", s("", 1.0));
    }

    @Test
    void badWeightIsRefused() {
        assertThrows(PromptSyntaxException.class, () -> PromptParser.parse("(a:1.2.3)"));
        assertThrows(PromptSyntaxException.class, () -> PromptParser.parse("(a:.)"));
    }

    // --- BREAK ---

    @Test
    void breakSplitsPlainText() {
        List<PromptSegment> out = PromptParser.parse("a cat BREAK a dog");
        assertEquals(List.of(s("a cat", 1.0), PromptSegment.breakMarker(), s("a dog", 1.0)), out);
        assertTrue(out.get(1).isBreak());
    }

    @Test
    void breakMustBeAWholeUpperCaseWord() {
        parses("aBREAK b", s("aBREAK b", 1.0));
        parses("a break b", s("a break b", 1.0));
        parses("BREAKING", s("BREAKING", 1.0));
    }

    @Test
    void breakAtTheEdgesLeavesEmptyText() {
        parses("BREAK a", s("", 1.0), PromptSegment.breakMarker(), s("a", 1.0));
        parses("a BREAK", s("a", 1.0), PromptSegment.breakMarker(), s("", 1.0));
    }

    @Test
    void breakInsideBracketsIsMultipliedAndStopsBeingABreak() {
        List<PromptSegment> out = PromptParser.parse("(a BREAK b)");
        assertEquals(List.of(s("a", 1.1), s("BREAK", -1.1), s("b", 1.1)), out);
        assertFalse(out.get(1).isBreak());
    }

    @Test
    void emphasisNoneKeepsTheTextVerbatim() {
        assertEquals(List.of(s("(a:1.5) BREAK [b]", 1.0)), Emphasis.NONE.segments("(a:1.5) BREAK [b]"));
        assertEquals(PromptParser.parse("(a:1.5)"), Emphasis.ORIGINAL.segments("(a:1.5)"));
    }
}
