package dev.jdiffuse.models.clip;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The CLIP vocabulary shipped in the jar gives OpenAI CLIP's ids: the well-known encoding of "a photo of a cat"
 * (49406 320 1125 539 320 2368 49407, as in CLIP's and transformers' documentation), the two padding conventions, and
 * the same ids as the transformers tokenizer folder of the project's default model ({@code vocab.json} +
 * {@code merges.txt}, 49,408 tokens) on varied text.
 */
class BundledClipVocabularyTest {

    @Test
    void aPhotoOfACatHasClipsIds() {
        ClipTokenizer tok = BundledClipVocabulary.tokenizer(BundledClipVocabulary.sd1Specials());
        assertEquals(BundledClipVocabulary.VOCAB_SIZE, tok.vocabSize());
        assertArrayEquals(new int[] {320, 1125, 539, 320, 2368}, tok.encode("a photo of a cat"));
        int[] padded = tok.encodePadded("a photo of a cat");
        assertEquals(77, padded.length);
        assertArrayEquals(new int[] {49406, 320, 1125, 539, 320, 2368, 49407, 49407}, Arrays.copyOf(padded, 8),
                "SD 1.x pads with <|endoftext|>");
        int[] openClip = BundledClipVocabulary.tokenizer(BundledClipVocabulary.openClipSpecials())
                .encodePadded("a photo of a cat");
        assertArrayEquals(new int[] {49406, 320, 1125, 539, 320, 2368, 49407, 0}, Arrays.copyOf(openClip, 8),
                "OpenCLIP (SD 2.x, SDXL's second encoder) pads with ! = id 0");
    }

    @Test
    void sameIdsAsTheTransformersFilesOfTheFullVocabulary() {
        Path folder = Path.of("../models-default/emoji-sd/tokenizer").toAbsolutePath().normalize();
        Assumptions.assumeTrue(Files.isRegularFile(folder.resolve("vocab.json")), "no " + folder);
        ClipTokenizer files = ClipTokenizer.load(folder);
        Assumptions.assumeTrue(files.vocabSize() == BundledClipVocabulary.VOCAB_SIZE, "not the full vocabulary");
        ClipTokenizer bundled = BundledClipVocabulary.tokenizer(ClipSpecialTokens.read(folder));
        for (String text : List.of("a photograph of an astronaut riding a horse, 4k, trending on artstation",
                "Ünïcödé façade — naïve café; 東京タワー 🗼", "1234567890 x2.5 (masterpiece:1.2) [blurry]",
                "don't can't we'll they're I'd", "  spaces\tand\nnewlines  ", "<|startoftext|>inline<|endoftext|>")) {
            assertArrayEquals(files.encodePadded(text), bundled.encodePadded(text), text);
        }
    }
}
