package dev.jdiffuse.server.api;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The range an Accept header weighs highest (the first among equals) decides whether an image is wanted. */
class AcceptHeaderTest {

    @Test
    void pngOrAnyImageFirstWantsTheImage() {
        assertTrue(AcceptHeader.prefersPng("image/png"));
        assertTrue(AcceptHeader.prefersPng("image/*"));
        assertTrue(AcceptHeader.prefersPng("Image/PNG"));
        assertTrue(AcceptHeader.prefersPng("application/json;q=0.1, image/png"));
        assertTrue(AcceptHeader.prefersPng("image/png, application/json"));
    }

    @Test
    void jsonFirstAnythingOrNothingAnswersJson() {
        assertFalse(AcceptHeader.prefersPng(null));
        assertFalse(AcceptHeader.prefersPng(""));
        assertFalse(AcceptHeader.prefersPng("*/*"));
        assertFalse(AcceptHeader.prefersPng("application/json, image/png"), "equal weights: the first");
        assertFalse(AcceptHeader.prefersPng("image/png;q=0.5, application/json"));
        assertFalse(AcceptHeader.prefersPng("image/png;q=abc, application/json;q=0.2"), "a malformed weight");
        assertFalse(AcceptHeader.prefersPng("image/jpeg"));
        assertFalse(AcceptHeader.prefersPng("application/json;q=0.5, image/png;q=2"), "a weight above 1");
    }
}
