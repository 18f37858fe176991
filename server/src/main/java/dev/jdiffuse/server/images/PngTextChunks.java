package dev.jdiffuse.server.images;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The text of a PNG, as Pillow's {@code Image.info} holds it and AUTOMATIC1111's "PNG Info" reads it: every
 * {@code tEXt} (Latin-1), {@code zTXt} (Latin-1, deflated) and {@code iTXt} (UTF-8, deflated or not) chunk by keyword
 * (PNG spec, sec. 11.3.4), a later chunk replacing an earlier one of the same keyword, as Pillow does. The chunk layer
 * is checked first ({@link PngChunks#problem}: lengths, CRCs, IEND), a compressed text is inflated to at most
 * {@link #MAX_TEXT} bytes (Pillow's {@code MAX_TEXT_CHUNK}) and all texts together to at most
 * {@link #MAX_TEXT_TOTAL} (Pillow's {@code MAX_TEXT_MEMORY}), so a small file cannot expand into a large one: without
 * the total, a few MiB of upload holding thousands of small zTXt chunks under distinct keywords would each inflate to
 * 1 MiB, gigabytes in all.
 */
public final class PngTextChunks {

    /** Most bytes one compressed text may inflate to (Pillow's {@code ImageFile.SAFEBLOCK}, 1 MiB). */
    public static final int MAX_TEXT = 1 << 20;

    /** Most bytes all texts of one file may hold together (Pillow's {@code MAX_TEXT_MEMORY}, 64 MiB). */
    public static final long MAX_TEXT_TOTAL = 64L * MAX_TEXT;

    /** A file that is not a well-formed PNG, or a text that cannot be read: why. */
    public static final class Malformed extends Exception {
        Malformed(String message) {
            super(message, null, false, false);
        }
    }

    private PngTextChunks() {
    }

    /** The text chunks of the PNG {@code png} by keyword, in file order. */
    public static Map<String, String> read(byte[] png) throws Malformed {
        if (!"png".equals(ImageDecoder.sniff(png))) {
            throw new Malformed("not a PNG");
        }
        String problem = PngChunks.problem(png);
        if (problem != null) {
            throw new Malformed(problem);
        }
        Map<String, String> text = new LinkedHashMap<>();
        long total = 0;
        int at = 8;
        while (true) {
            int length = readInt(png, at);
            String type = new String(png, at + 4, 4, StandardCharsets.ISO_8859_1);
            int data = at + 8;
            // every text read counts, also one a later chunk replaces: the bound is on what was inflated
            total += switch (type) {
                case "tEXt" -> tExt(png, data, length, text);
                case "zTXt" -> zTxt(png, data, length, text);
                case "iTXt" -> iTxt(png, data, length, text);
                default -> 0;
            };
            if (total > MAX_TEXT_TOTAL) {
                throw new Malformed("the PNG's texts hold more than " + MAX_TEXT_TOTAL + " bytes");
            }
            if (type.equals("IEND")) {
                return text;
            }
            at = data + length + 4;
        }
    }

    /** {@code keyword 0 text}; returns the text's bytes. */
    private static int tExt(byte[] b, int data, int length, Map<String, String> out) throws Malformed {
        int nul = nul(b, data, data + length, "tEXt");
        out.put(latin1(b, data, nul), latin1(b, nul + 1, data + length));
        return data + length - nul - 1;
    }

    /** {@code keyword 0 method(1) deflated-text}; returns the inflated text's bytes. */
    private static int zTxt(byte[] b, int data, int length, Map<String, String> out) throws Malformed {
        int nul = nul(b, data, data + length, "zTXt");
        if (nul + 1 >= data + length || b[nul + 1] != 0) {
            throw new Malformed("a zTXt chunk has an unknown compression method");
        }
        byte[] text = inflate(b, nul + 2, data + length - nul - 2);
        out.put(latin1(b, data, nul), new String(text, StandardCharsets.ISO_8859_1));
        return text.length;
    }

    /** {@code keyword 0 compressed(1) method(1) language 0 translated-keyword 0 text}; returns the text's bytes. */
    private static int iTxt(byte[] b, int data, int length, Map<String, String> out) throws Malformed {
        int end = data + length;
        int nul = nul(b, data, end, "iTXt");
        if (nul + 3 > end) {
            throw new Malformed("an iTXt chunk is cut short");
        }
        boolean compressed = b[nul + 1] != 0;
        if (compressed && b[nul + 2] != 0) {
            throw new Malformed("an iTXt chunk has an unknown compression method");
        }
        int language = nul(b, nul + 3, end, "iTXt");
        int translated = nul(b, language + 1, end, "iTXt");
        int from = translated + 1;
        byte[] text = compressed ? inflate(b, from, end - from) : java.util.Arrays.copyOfRange(b, from, end);
        out.put(latin1(b, data, nul), new String(text, StandardCharsets.UTF_8));
        return text.length;
    }

    private static int nul(byte[] b, int from, int end, String chunk) throws Malformed {
        for (int i = from; i < end; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        throw new Malformed("a " + chunk + " chunk has no keyword separator");
    }

    private static String latin1(byte[] b, int from, int to) {
        return new String(b, from, to - from, StandardCharsets.ISO_8859_1);
    }

    /** A zlib stream inflated to at most {@link #MAX_TEXT} bytes. */
    private static byte[] inflate(byte[] b, int from, int length) throws Malformed {
        Inflater inflater = new Inflater();
        try {
            inflater.setInput(b, from, length);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            while (!inflater.finished()) {
                int n = inflater.inflate(buf);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    throw new Malformed("a compressed PNG text is cut short");
                }
                if (out.size() + n > MAX_TEXT) {
                    throw new Malformed("a compressed PNG text inflates to more than " + MAX_TEXT + " bytes");
                }
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } catch (DataFormatException e) {
            throw new Malformed("a compressed PNG text is not valid zlib");
        } finally {
            inflater.end();
        }
    }

    private static int readInt(byte[] b, int at) {
        return (b[at] & 0xff) << 24 | (b[at + 1] & 0xff) << 16 | (b[at + 2] & 0xff) << 8 | (b[at + 3] & 0xff);
    }
}
