package dev.jdiffuse.models.t5;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * SentencePiece's precompiled normalisation map (for T5: {@code nmt_nfkc}, i.e. NFKC plus removal of control
 * characters and mapping of odd whitespace to a space), as tokenizers' {@code Precompiled} normalizer applies it.
 *
 * <p>Layout of the blob ({@code precompiled_charsmap}, base64 in tokenizer.json): a little-endian uint32
 * {@code trie_size}, then {@code trie_size} bytes of a Darts-clone double-array trie (uint32 units) over UTF-8
 * inputs whose values are offsets into the rest of the blob, a list of NUL-terminated UTF-8 replacements.
 *
 * <p>Applied per grapheme cluster: a cluster shorter than 6 UTF-8 bytes with a match is replaced as a whole;
 * otherwise each code point is replaced by its match or kept. As in tokenizers ({@code spm_precompiled}), the
 * first (shortest) prefix match is taken.
 */
final class PrecompiledCharsMap {

    private static final Pattern GRAPHEMES = Pattern.compile("\\X");

    private final int[] units;
    private final byte[] normalized;

    PrecompiledCharsMap(byte[] blob) {
        ByteBuffer b = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
        int trieSize = b.getInt(0);
        if (trieSize < 0 || trieSize % 4 != 0 || 4 + trieSize > blob.length) {
            throw new IllegalArgumentException("malformed precompiled_charsmap: trie size " + trieSize
                    + " in a blob of " + blob.length + " bytes");
        }
        this.units = new int[trieSize / 4];
        for (int i = 0; i < units.length; i++) {
            units[i] = b.getInt(4 + 4 * i);
        }
        this.normalized = java.util.Arrays.copyOfRange(blob, 4 + trieSize, blob.length);
    }

    String normalize(String text) {
        StringBuilder out = new StringBuilder(text.length());
        Matcher m = GRAPHEMES.matcher(text);
        while (m.find()) {
            String grapheme = m.group();
            byte[] gb = grapheme.getBytes(StandardCharsets.UTF_8);
            if (gb.length < 6) {
                String t = transform(gb);
                if (t != null) {
                    out.append(t);
                    continue;
                }
            }
            grapheme.codePoints().forEach(cp -> {
                String t = transform(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
                if (t != null) {
                    out.append(t);
                } else {
                    out.appendCodePoint(cp);
                }
            });
        }
        return out.toString();
    }

    /** The replacement of the shortest prefix of {@code key} in the map, or null. */
    private String transform(byte[] key) {
        int value = firstPrefixValue(key);
        if (value < 0) {
            return null;
        }
        int end = value;
        while (end < normalized.length && normalized[end] != 0) {
            end++;
        }
        return new String(normalized, value, end - value, StandardCharsets.UTF_8);
    }

    /** Darts-clone common prefix search, first hit only; -1 when none. */
    private int firstPrefixValue(byte[] key) {
        int nodePos = 0;
        int unit = units[nodePos];
        nodePos ^= offset(unit);
        for (byte kb : key) {
            int c = kb & 0xff;
            if (c == 0) {
                break;
            }
            nodePos ^= c;
            if (nodePos < 0 || nodePos >= units.length) {
                return -1;
            }
            unit = units[nodePos];
            if (label(unit) != c) {
                return -1;
            }
            nodePos ^= offset(unit);
            if (hasLeaf(unit)) {
                return value(units[nodePos]);
            }
        }
        return -1;
    }

    private static boolean hasLeaf(int unit) {
        return ((unit >>> 8) & 1) == 1;
    }

    private static int value(int unit) {
        return unit & 0x7fffffff;
    }

    private static int label(int unit) {
        return unit & (0x80000000 | 0xff);
    }

    private static int offset(int unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    }
}
