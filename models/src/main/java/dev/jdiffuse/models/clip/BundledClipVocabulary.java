package dev.jdiffuse.models.clip;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * OpenAI's CLIP vocabulary, shipped in this jar ({@code bpe_simple_vocab_16e6.txt.gz}, MIT, licence beside it), so a
 * single-file checkpoint needs no tokenizer folder. The ids are built as OpenAI's {@code SimpleTokenizer} builds them
 * ({@code clip/simple_tokenizer.py}): the 256 byte characters in {@code bytes_to_unicode} order, the same with
 * {@code </w>}, one token per merge of lines {@code 1 .. 48894} of the file (rank order), then
 * {@code <|startoftext|>} (49406) and {@code <|endoftext|>} (49407): 49,408 tokens, the vocabulary of every SD text
 * encoder (OpenCLIP's tokenizer reads the same file).
 */
public final class BundledClipVocabulary {

    /** Rows of every CLIP / OpenCLIP token embedding built on this vocabulary. */
    public static final int VOCAB_SIZE = 49_408;
    /** OpenCLIP pads with id 0, the token {@code !} (SD 2.x, SDXL's second encoder: diffusers' {@code pad_token}). */
    public static final String OPEN_CLIP_PAD = "!";
    private static final String RESOURCE = "bpe_simple_vocab_16e6.txt.gz";
    private static final int MERGES = VOCAB_SIZE - 2 * 256 - 2;

    private static Map<String, Integer> vocab;
    private static List<String[]> merges;

    private BundledClipVocabulary() {
    }

    /** A tokenizer on the bundled vocabulary with the given special tokens (e.g. {@link #sd1Specials()}). */
    public static ClipTokenizer tokenizer(ClipSpecialTokens specials) {
        load();
        return new ClipTokenizer(vocab, merges, Set.of(), specials);
    }

    /** OpenAI CLIP's convention (SD 1.x, SDXL's first encoder): padded with {@code <|endoftext|>}. */
    public static ClipSpecialTokens sd1Specials() {
        return ClipSpecialTokens.defaults();
    }

    /** OpenCLIP's convention (SD 2.x, SDXL's second encoder): padded with {@code !} (id 0). */
    public static ClipSpecialTokens openClipSpecials() {
        ClipSpecialTokens d = ClipSpecialTokens.defaults();
        return new ClipSpecialTokens(d.bos(), d.eos(), OPEN_CLIP_PAD, d.unk(), d.modelMaxLength());
    }

    private static synchronized void load() {
        if (vocab != null) {
            return;
        }
        List<String[]> m = new ArrayList<>(MERGES);
        try (InputStream raw = BundledClipVocabulary.class.getResourceAsStream(RESOURCE)) {
            if (raw == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the jar");
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(new GZIPInputStream(raw),
                    StandardCharsets.UTF_8));
            in.readLine(); // "#version: 0.2"
            String line;
            while (m.size() < MERGES && (line = in.readLine()) != null) {
                String[] p = line.split(" ");
                if (p.length != 2) {
                    throw new IllegalStateException(RESOURCE + ": merge " + (m.size() + 1) + " is '" + line + "'");
                }
                m.add(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        if (m.size() != MERGES) {
            throw new IllegalStateException(RESOURCE + ": " + m.size() + " merges, expected " + MERGES);
        }
        Map<String, Integer> v = new HashMap<>(VOCAB_SIZE * 2);
        List<String> bytes = byteCharactersInVocabOrder();
        for (String b : bytes) {
            v.put(b, v.size());
        }
        for (String b : bytes) {
            v.put(b + "</w>", v.size());
        }
        for (String[] p : m) {
            v.put(p[0] + p[1], v.size());
        }
        v.put(ClipSpecialTokens.START_OF_TEXT, v.size());
        v.put(ClipSpecialTokens.END_OF_TEXT, v.size());
        if (v.size() != VOCAB_SIZE) {
            throw new IllegalStateException(RESOURCE + ": " + v.size() + " distinct tokens, expected " + VOCAB_SIZE);
        }
        merges = List.copyOf(m);
        vocab = Map.copyOf(v);
    }

    /**
     * {@code bytes_to_unicode().values()}: the printable bytes ({@code !..~}, {@code ¡..¬}, {@code ®..ÿ}) as
     * themselves in byte order, then the other 68 bytes as U+0100 onwards in byte order.
     */
    private static List<String> byteCharactersInVocabOrder() {
        List<String> printable = new ArrayList<>();
        List<String> shifted = new ArrayList<>();
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean p = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            if (p) {
                printable.add(String.valueOf((char) b));
            } else {
                shifted.add(String.valueOf((char) (256 + next++)));
            }
        }
        printable.addAll(shifted);
        return printable;
    }
}
