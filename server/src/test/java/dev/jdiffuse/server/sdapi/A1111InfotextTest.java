package dev.jdiffuse.server.sdapi;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * {@link A1111Infotext} parses as A1111's {@code parse_generation_parameters}: the docstring's example, multi-line
 * prompts, quoted values, {@code WxH} split into {@code -1}/{@code -2}, a last line of fewer than three pairs kept as
 * prompt text, and the defaults for keys left out.
 */
class A1111InfotextTest {

    @Test
    void parsesA1111sOwnExample() {
        Map<String, Object> p = A1111Infotext.parse("""
                girl with an artist's beret, determined, blue eyes, ((eyeshadow)), (coquettish), detailed
                Negative prompt: ugly, fat, (((deformed))), [blurry], bad anatomy
                Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b""");
        assertEquals("girl with an artist's beret, determined, blue eyes, ((eyeshadow)), (coquettish), detailed",
                p.get("Prompt"));
        assertEquals("ugly, fat, (((deformed))), [blurry], bad anatomy", p.get("Negative prompt"));
        assertEquals("20", p.get("Steps"));
        assertEquals("Euler a", p.get("Sampler"));
        assertEquals("7", p.get("CFG scale"));
        assertEquals("965400086", p.get("Seed"));
        assertEquals("512", p.get("Size-1"));
        assertEquals("512", p.get("Size-2"));
        assertFalse(p.containsKey("Size"));
        assertEquals("45dee52b", p.get("Model hash"));
        // A1111's defaults for what the text leaves out
        assertEquals("1", p.get("Clip skip"));
        assertEquals(0, p.get("Hires resize-1"));
        assertEquals("GPU", p.get("RNG"));
        assertEquals("Automatic", p.get("Schedule type"));
        assertEquals(32, p.get("Masked area padding"));
        assertEquals("Disable", p.get("FP8 weight"));
    }

    @Test
    void multiLinePromptsQuotedValuesAndShortLastLines() {
        Map<String, Object> p = A1111Infotext.parse("""
                line one
                line two
                Negative prompt: bad
                worse
                Steps: 4, Sampler: DPM++ 2M, Lora hashes: "a: 0123, b: 4567", Outpaint: "left 8, right 0", \
                Hires resize: 1024x768, Clip skip: 2, Empty: , RNG: CPU""");
        assertEquals("line one\nline two", p.get("Prompt"));
        assertEquals("bad\nworse", p.get("Negative prompt"));
        assertEquals("a: 0123, b: 4567", p.get("Lora hashes"), "a quoted value keeps its commas and colons");
        assertEquals("left 8, right 0", p.get("Outpaint"));
        assertEquals("1024", p.get("Hires resize-1"));
        assertEquals("768", p.get("Hires resize-2"));
        assertEquals("2", p.get("Clip skip"));
        assertEquals("CPU", p.get("RNG"));
        assertFalse(p.containsKey("Empty"), "an empty value is skipped, as A1111's parser skips it");
        // a last line with fewer than three pairs is prompt text
        Map<String, Object> q = A1111Infotext.parse("a photo\nstyle: noir, mood: dark");
        assertEquals("a photo\nstyle: noir, mood: dark", q.get("Prompt"));
        assertFalse(q.containsKey("style"));
        Map<String, Object> empty = A1111Infotext.parse("");
        assertEquals("", empty.get("Prompt"));
        assertEquals("", empty.get("Negative prompt"));
        // an escaped quote inside a quoted value
        Map<String, Object> esc = A1111Infotext.parse("x\nSteps: 1, Seed: 2, Note: \"say \\\"hi\\\", ok\"");
        assertEquals("say \"hi\", ok", esc.get("Note"));
    }
}
