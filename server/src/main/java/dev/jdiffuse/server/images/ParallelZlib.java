package dev.jdiffuse.server.images;

import java.util.Arrays;
import java.util.zip.Adler32;
import java.util.zip.Deflater;

/**
 * A zlib stream (RFC 1950) of a byte array, deflated in stripes on several threads the way pigz does: each stripe
 * is a raw deflate stream (RFC 1951) primed with the previous 32 KiB of input as its dictionary, so matches reach
 * back across the seam as in one stream; all but the last end with a sync flush (an empty stored block that
 * byte-aligns the output), the last with the final block. The raw streams concatenate into one valid deflate
 * stream, framed by the 2-byte zlib header and the Adler-32 of all the input, which each stripe sums for its own
 * part and {@link #adler32Combine} joins (as zlib's {@code adler32_combine}), so no pass over the data is serial.
 */
final class ParallelZlib {

    /** Deflate's window: how far back a match may reach. */
    static final int WINDOW = 32 * 1024;

    private ParallelZlib() {
    }

    /** The parts of the zlib stream, in order: header, one per stripe, Adler-32 trailer. */
    record Parts(byte[][] bytes, int[] lengths) {
        int total() {
            return Arrays.stream(lengths).sum();
        }
    }

    /**
     * @param bounds stripe boundaries, ascending from 0 to {@code data.length}: stripe i is
     *               {@code [bounds[i], bounds[i + 1])}
     */
    static Parts compress(byte[] data, int[] bounds, int level) {
        int n = bounds.length - 1;
        byte[][] bytes = new byte[n + 2][];
        int[] lengths = new int[n + 2];
        bytes[0] = header(level);
        lengths[0] = 2;
        long[] adlers = new long[n];
        Stripes.run(n, i -> {
            Deflater deflater = new Deflater(level, true);
            try {
                byte[] out = deflate(deflater, data, bounds[i], bounds[i + 1], i == n - 1);
                bytes[i + 1] = out;
                lengths[i + 1] = (int) deflater.getBytesWritten();
            } finally {
                deflater.end();
            }
            Adler32 adler = new Adler32();
            adler.update(data, bounds[i], bounds[i + 1] - bounds[i]);
            adlers[i] = adler.getValue();
        });
        long adler = adlers[0];
        for (int i = 1; i < n; i++) {
            adler = adler32Combine(adler, adlers[i], bounds[i + 1] - bounds[i]);
        }
        int a = (int) adler;
        bytes[n + 1] = new byte[] {(byte) (a >>> 24), (byte) (a >>> 16), (byte) (a >>> 8), (byte) a};
        lengths[n + 1] = 4;
        return new Parts(bytes, lengths);
    }

    private static byte[] deflate(Deflater deflater, byte[] data, int from, int to, boolean last) {
        if (from > 0) {
            int start = Math.max(0, from - WINDOW);
            deflater.setDictionary(data, start, from - start);
        }
        deflater.setInput(data, from, to - from);
        byte[] out = new byte[(to - from) + ((to - from) >>> 6) + 64];
        int at = 0;
        if (last) {
            deflater.finish();
            while (!deflater.finished()) {
                out = room(out, at);
                at += deflater.deflate(out, at, out.length - at);
            }
        } else {
            // a full output buffer may leave flushed bytes behind: call again until one comes back short
            int n;
            do {
                out = room(out, at);
                n = deflater.deflate(out, at, out.length - at, Deflater.SYNC_FLUSH);
                at += n;
            } while (at == out.length);
        }
        return out;
    }

    private static final int BASE = 65521;

    /**
     * The Adler-32 of A followed by B from those of A and B and B's length (zlib's {@code adler32_combine}): with
     * s1 = 1 + sum of bytes and s2 = sum of the running s1, both mod 65521 (RFC 1950 sec. 8), appending B adds B's
     * byte sum to s1, and to s2 adds B's s2 plus len(B) times A's s1 less the 1 that B's own s1 started from.
     */
    static long adler32Combine(long adlerA, long adlerB, long lengthB) {
        long rem = lengthB % BASE;
        long s1a = adlerA & 0xffff;
        long s2a = (adlerA >>> 16) & 0xffff;
        long s1b = adlerB & 0xffff;
        long s2b = (adlerB >>> 16) & 0xffff;
        long s1 = (s1a + s1b + BASE - 1) % BASE;
        long s2 = (rem * s1a + s2a + s2b + BASE - rem) % BASE;
        return s2 << 16 | s1;
    }

    private static byte[] room(byte[] out, int at) {
        return at < out.length ? out : Arrays.copyOf(out, out.length * 2);
    }

    /**
     * RFC 1950 sec. 2.2: CMF = deflate with a 32 KiB window, FLG = the level hint (FLEVEL) and FCHECK so that
     * CMF * 256 + FLG is a multiple of 31; no preset dictionary for the stream as a whole.
     */
    static byte[] header(int level) {
        int cmf = 0x78;
        int flevel = level <= 1 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
        int flg = flevel << 6;
        flg += 31 - (cmf * 256 + flg) % 31;
        return new byte[] {(byte) cmf, (byte) flg};
    }
}
