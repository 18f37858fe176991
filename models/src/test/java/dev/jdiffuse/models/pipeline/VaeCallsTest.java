package dev.jdiffuse.models.pipeline;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The out-of-memory ladder of {@link VaeCalls#smallerOnOutOfMemory}, with stand-ins for the VAE that fail the way
 * PyTorch's CUDA allocator does above a given batch: whole, then one row at a time (same values), then tiles; nothing
 * but out-of-memory errors is retried, and a failed try leaves nothing behind.
 */
class VaeCallsTest {

    private static final String OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
            + "79.19 GiB of which 1.06 GiB is free.";

    /** Rows seen by each call of a stand-in, in order. */
    private final List<Long> wholeCalls = new ArrayList<>();
    private final List<Long> tiledCalls = new ArrayList<>();

    /** A stand-in that doubles its input, or fails with {@code message} when given more than {@code maxRows} rows. */
    private UnaryOperator<NDArray> failingAbove(long maxRows, String message, List<Long> calls, float factor) {
        return x -> {
            calls.add(x.getShape().get(0));
            NDArray activations = x.mul(x); // left in the try's scope when it fails
            if (x.getShape().get(0) > maxRows) {
                throw new EngineException(message);
            }
            return activations.div(x).mul(x.getManager().create(factor));
        };
    }

    @Test
    void aBatchThatDoesNotFitIsDecodedOneImageAtATime() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(3, 2, 4, 4));
            int before = managed(m);
            NDArray out = VaeCalls.smallerOnOutOfMemory(x, failingAbove(1, OOM, wholeCalls, 2f),
                    failingAbove(1, OOM, tiledCalls, 3f), "decoding");
            assertEquals(List.of(3L, 1L, 1L, 1L), wholeCalls);
            assertEquals(List.of(), tiledCalls, "no tiles when one image fits");
            assertEquals(before + 1, managed(m), "only the output is left");
            assertArrayEquals(x.mul(m.create(2f)).toFloatArray(), out.toFloatArray(), 1e-6f);
        }
    }

    @Test
    void anImageThatDoesNotFitIsDecodedInTiles() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(2, 2, 4, 4));
            int before = managed(m);
            NDArray out = VaeCalls.smallerOnOutOfMemory(x, failingAbove(0, OOM, wholeCalls, 2f),
                    failingAbove(1, OOM, tiledCalls, 3f), "decoding");
            assertEquals(List.of(2L, 1L), wholeCalls, "the batch, then its first image alone");
            assertEquals(List.of(1L, 1L), tiledCalls, "each image in tiles");
            assertEquals(before + 1, managed(m), "only the output is left");
            assertArrayEquals(x.mul(m.create(3f)).toFloatArray(), out.toFloatArray(), 1e-6f);
        }
    }

    @Test
    void oneImageGoesStraightToTiles() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(1, 2, 4, 4));
            VaeCalls.smallerOnOutOfMemory(x, failingAbove(0, OOM, wholeCalls, 2f),
                    failingAbove(1, OOM, tiledCalls, 3f), "decoding");
            assertEquals(List.of(1L), wholeCalls);
            assertEquals(List.of(1L), tiledCalls);
        }
    }

    @Test
    void otherFailuresAreNotRetried() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(2, 2, 4, 4));
            int before = managed(m);
            String fatal = "CUDA error: an illegal memory access was encountered";
            EngineException e = assertThrows(EngineException.class, () -> VaeCalls.smallerOnOutOfMemory(x,
                    failingAbove(0, fatal, wholeCalls, 2f), failingAbove(9, OOM, tiledCalls, 3f), "decoding"));
            assertEquals(fatal, e.getMessage());
            assertEquals(List.of(2L), wholeCalls);
            assertEquals(List.of(), tiledCalls);
            assertEquals(before, managed(m), "the failed try's arrays are freed");
        }
    }

    @Test
    void theLastTrysErrorIsTheCallers() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(2, 2, 4, 4));
            int before = managed(m);
            EngineException e = assertThrows(EngineException.class, () -> VaeCalls.smallerOnOutOfMemory(x,
                    failingAbove(0, OOM, wholeCalls, 2f), failingAbove(0, OOM + " (tiles)", tiledCalls, 3f),
                    "decoding"));
            assertEquals(OOM + " (tiles)", e.getMessage());
            assertEquals(before, managed(m));
        }
    }

    @Test
    void aBatchThatFitsIsOneCall() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(4, 2, 4, 4));
            NDArray out = VaeCalls.smallerOnOutOfMemory(x, failingAbove(4, OOM, wholeCalls, 2f),
                    failingAbove(4, OOM, tiledCalls, 3f), "decoding");
            assertEquals(List.of(4L), wholeCalls);
            assertSame(m, out.getManager());
        }
    }

    /** A retry in tiles uses tiles smaller than the image: one that fits a tile would be decoded whole again. */
    @Test
    void theFallbackTileIsSmallerThanTheImage() {
        assertEquals(512, VaeCalls.fallbackTile(512, 2048), "the VAE's own tile where the image is larger");
        assertEquals(512, VaeCalls.fallbackTile(1024, 1024), "SDXL at 1024: half the side");
        assertEquals(256, VaeCalls.fallbackTile(512, 512), "SD 1.5 at 512");
        assertEquals(320, VaeCalls.fallbackTile(1024, 680), "down to a multiple of 32");
        assertEquals(64, VaeCalls.fallbackTile(512, 96), "at least 64");
    }

    private static int managed(NDManager m) {
        return ((BaseNDManager) m).getManagedArrays().size();
    }
}
