package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * A CUDA graph replays the shapes it was captured with ({@code native/cudagraphs}): the key that picks a UNet's graph
 * must change with every input shape and dtype a forward can meet, and only with them. (The capture and replay
 * themselves need a CUDA device and the helper library; they are measured on the GPU machine, bench/gpu/session15.sh.)
 */
class CudaGraphKeyTest {

    private static String key(NDManager m, int rows, int latent, DataType dtype, int tokens, boolean sdxl,
            String more) {
        NDArray x = m.zeros(new Shape(rows, 4, latent, latent), dtype);
        NDArray t = m.zeros(new Shape(rows, 320));
        NDArray[] kv = {m.zeros(new Shape(rows, 8, tokens, 40), DataType.FLOAT16),
            m.zeros(new Shape(rows, 8, tokens, 40), DataType.FLOAT16)};
        UNetExtras extras = sdxl ? UNetExtras.sdxl(m.zeros(new Shape(rows, 1280)), m.zeros(new Shape(rows, 6)))
                : UNetExtras.NONE;
        return EncoderScript.graphKey(x, t, kv, extras, more);
    }

    @Test
    void theKeyFollowsEveryShapeAndNothingElse() {
        try (NDManager m = NDManager.newBaseManager()) {
            String base = key(m, 2, 64, DataType.FLOAT32, 77, false, "no residuals");
            assertEquals(base, key(m, 2, 64, DataType.FLOAT32, 77, false, "no residuals"), "same shapes, same graph");
            assertNotEquals(base, key(m, 4, 64, DataType.FLOAT32, 77, false, "no residuals"), "rows");
            assertNotEquals(base, key(m, 2, 96, DataType.FLOAT32, 77, false, "no residuals"), "image size");
            assertNotEquals(base, key(m, 2, 64, DataType.FLOAT16, 77, false, "no residuals"), "sample dtype");
            assertNotEquals(base, key(m, 2, 64, DataType.FLOAT32, 154, false, "no residuals"), "prompt length");
            assertNotEquals(base, key(m, 2, 64, DataType.FLOAT32, 77, true, "no residuals"), "SDXL's extras");
            assertNotEquals(base, key(m, 2, 64, DataType.FLOAT32, 77, false, "13 residuals float16"), "ControlNet");
        }
    }
}
