package dev.jdiffuse.server.images;

import java.util.zip.CRC32;

/**
 * The PNG chunk layer checked before any decoder runs (PNG spec, sec. 5.3): after the 8-byte signature, chunks of
 * {@code length(4) type(4) data(length) crc(4)}, the CRC-32 over type and data, ending with IEND. The JDK's reader
 * ignores CRCs, so a corrupted or forged file would otherwise decode.
 */
final class PngChunks {

    private static final int SIGNATURE = 8;

    private PngChunks() {
    }

    /**
     * Checks a non-interlaced PNG's image data without decoding pixels: the IDAT stream must inflate to exactly the
     * {@code height x (1 + row bytes)} that IHDR implies. Returns null when it does, or when the image is interlaced
     * (the caller decodes those); else what is wrong. Assumes {@link #problem} found nothing.
     */
    static String dataProblem(byte[] b) {
        int at = SIGNATURE;
        long width = readInt(b, at + 8) & 0xffffffffL;
        long height = readInt(b, at + 12) & 0xffffffffL;
        int depth = b[at + 16];
        int colour = b[at + 17];
        int interlace = b[at + 20];
        if (!(b[at + 4] == 'I' && b[at + 5] == 'H' && b[at + 6] == 'D' && b[at + 7] == 'R')) {
            return "a PNG must start with IHDR";
        }
        if (interlace != 0) {
            return null;
        }
        int channels = switch (colour) {
            case 0, 3 -> 1;
            case 2 -> 3;
            case 4 -> 2;
            case 6 -> 4;
            default -> -1;
        };
        if (channels < 0 || depth < 1 || depth > 16) {
            return "the PNG has an unknown colour type or bit depth";
        }
        long expected = height * (1 + (width * channels * depth + 7) / 8);
        java.util.zip.Inflater inflater = new java.util.zip.Inflater();
        byte[] scratch = new byte[64 * 1024];
        long total = 0;
        try {
            while (true) {
                long length = readInt(b, at) & 0xffffffffL;
                boolean idat = b[at + 4] == 'I' && b[at + 5] == 'D' && b[at + 6] == 'A' && b[at + 7] == 'T';
                boolean end = b[at + 4] == 'I' && b[at + 5] == 'E' && b[at + 6] == 'N' && b[at + 7] == 'D';
                if (idat) {
                    inflater.setInput(b, at + 8, (int) length);
                    while (!inflater.needsInput() && !inflater.finished()) {
                        int n = inflater.inflate(scratch);
                        total += n;
                        if (total > expected) {
                            return "the PNG's image data is longer than its size declares";
                        }
                        if (n == 0 && inflater.needsDictionary()) {
                            return "the PNG's image data is not valid zlib";
                        }
                    }
                }
                at += 12 + (int) length;
                if (end) {
                    break;
                }
            }
            return inflater.finished() && total == expected ? null
                    : "the PNG's image data is shorter than its size declares";
        } catch (java.util.zip.DataFormatException e) {
            return "the PNG's image data is not valid zlib";
        } finally {
            inflater.end();
        }
    }

    /** Null when every chunk's length fits and its CRC matches and IEND is reached; else what is wrong. */
    static String problem(byte[] b) {
        int at = SIGNATURE;
        CRC32 crc = new CRC32();
        while (true) {
            if (b.length - at < 12) {
                return "the PNG ends before its IEND chunk";
            }
            long length = readInt(b, at) & 0xffffffffL;
            if (length > b.length - at - 12L) {
                return "a PNG chunk is longer than the file";
            }
            int data = at + 8;
            crc.reset();
            crc.update(b, at + 4, 4 + (int) length);
            long stored = readInt(b, data + (int) length) & 0xffffffffL;
            if (crc.getValue() != stored) {
                return "a PNG chunk's CRC does not match";
            }
            boolean end = b[at + 4] == 'I' && b[at + 5] == 'E' && b[at + 6] == 'N' && b[at + 7] == 'D';
            at = data + (int) length + 4;
            if (end) {
                return null;
            }
        }
    }

    private static int readInt(byte[] b, int at) {
        return (b[at] & 0xff) << 24 | (b[at + 1] & 0xff) << 16 | (b[at + 2] & 0xff) << 8 | (b[at + 3] & 0xff);
    }
}
