package dev.jdiffuse.models.clip;

/**
 * GPT-2's reversible byte-to-character table ({@code bytes_to_unicode} in OpenAI's CLIP and GPT-2 code): every byte
 * value maps to one printable character, so byte-level BPE can work on strings. Printable Latin-1 bytes map to
 * themselves; the other 68 bytes map to U+0100 onwards in byte order (so the space byte 0x20 becomes U+0120).
 */
final class ByteLevelAlphabet {

    private static final char[] BYTE_TO_CHAR = build();

    private ByteLevelAlphabet() {
    }

    private static char[] build() {
        char[] table = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int next = 0;
        for (int b = 0; b < 256; b++) {
            table[b] = printable[b] ? (char) b : (char) (256 + next++);
        }
        return table;
    }

    /** The UTF-8 bytes of {@code text}, each replaced by its table character. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }
}
