package dev.jdiffuse.server.images;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.SplittableRandom;
import java.util.zip.Adler32;
import java.util.zip.Inflater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ParallelZlibTest {

    @Test
    void combinedAdlerIsTheAdlerOfTheWhole() {
        SplittableRandom random = new SplittableRandom(5);
        byte[] data = new byte[300_000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (random.nextInt(4) == 0 ? random.nextInt() : 255);
        }
        for (int split : new int[] {0, 1, 65520, 65521, 65522, 200_000, data.length}) {
            assertEquals(adler(data, 0, data.length),
                    ParallelZlib.adler32Combine(adler(data, 0, split), adler(data, split, data.length - split),
                            data.length - split), "split at " + split);
        }
    }

    @Test
    void stripesInflateToTheInputAtEveryLevel() throws Exception {
        SplittableRandom random = new SplittableRandom(9);
        byte[] data = new byte[250_000];
        for (int i = 0; i < data.length; i++) {
            // repeats reaching back across stripe seams, and noise
            data[i] = i > 40_000 && i % 7 != 0 ? data[i - 40_000 + (i % 3)] : (byte) random.nextInt();
        }
        int[] bounds = {0, 1, 50_000, 50_001, 120_000, 250_000};
        for (int level = 0; level <= 9; level++) {
            assertArrayEquals(data, inflate(ParallelZlib.compress(data, bounds, level)), "level " + level);
        }
        assertArrayEquals(new byte[0], inflate(ParallelZlib.compress(new byte[0], new int[] {0, 0}, 1)));
    }

    private static byte[] inflate(ParallelZlib.Parts parts) throws Exception {
        ByteArrayOutputStream zlib = new ByteArrayOutputStream();
        for (int i = 0; i < parts.bytes().length; i++) {
            zlib.write(parts.bytes()[i], 0, parts.lengths()[i]);
        }
        assertEquals(parts.total(), zlib.size());
        Inflater inflater = new Inflater();
        inflater.setInput(zlib.toByteArray());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        while (!inflater.finished()) {
            int n = inflater.inflate(buffer);
            if (n == 0 && !inflater.finished() && inflater.needsInput()) {
                throw new AssertionError("stream ends early");
            }
            out.write(buffer, 0, n);
        }
        assertEquals(0, inflater.getRemaining());
        inflater.end();
        return out.toByteArray();
    }

    private static long adler(byte[] b, int from, int length) {
        Adler32 a = new Adler32();
        a.update(b, from, length);
        return a.getValue();
    }
}
