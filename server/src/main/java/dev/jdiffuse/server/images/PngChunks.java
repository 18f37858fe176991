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
