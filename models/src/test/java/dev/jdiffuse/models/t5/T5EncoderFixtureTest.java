package dev.jdiffuse.models.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SD3.5 fixture's {@code text_encoder_3} (T5 v1.1 layout, weights stored as BF16, as published) loads through the
 * project's loader into float32 and float16 and encodes a prompt tokenised by its {@code tokenizer_3}.
 */
class T5EncoderFixtureTest {

    private static final String CASE = "layouts/sd35/model";

    @Test
    void bf16CheckpointLoadsExactlyIntoFloat32AndEncodes() {
        Path model = Fixtures.require(CASE);
        Path folder = model.resolve("text_encoder_3");
        T5Tokenizer tok = T5Tokenizer.load(model.resolve("tokenizer_3"));
        int[][] ids = tok.encodePadded(List.of("a lighthouse on a cliff at dusk, oil painting", ""), 32);
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager();
                SafetensorsFile file = SafetensorsFile.open(folder.resolve("model.safetensors"))) {
            T5EncoderModel t5 = T5EncoderModel.load(folder, weights, DataType.FLOAT32);
            // every weight: stored bf16 bits shifted into float32, bit for bit
            int checked = 0;
            for (var e : t5.namedParameters().entrySet()) {
                assertEquals(DType.BF16, file.info(e.getKey()).dtype(), e.getKey());
                float[] want = bf16ToFloat(file.buffer(e.getKey()));
                float[] got = e.getValue().get().toFloatArray();
                assertEquals(DataType.FLOAT32, e.getValue().get().getDataType());
                assertEquals(want.length, got.length, e.getKey());
                for (int i = 0; i < want.length; i++) {
                    assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), e.getKey() + "[" + i + "]");
                }
                checked++;
            }
            assertEquals(21, checked, "parameters of the 2-layer fixture");
            try (var sd = dev.jdiffuse.models.weights.SafetensorsStateDict.open(folder.resolve("model.safetensors"))) {
                assertEquals(t5.config(), T5Config.detect(sd), "config from shapes vs config.json");
            }

            NDArray out = t5.encode(step, ids);
            assertEquals(new Shape(2, 32, t5.config().dModel()), out.getShape());
            float[] v = out.toFloatArray();
            for (float f : v) {
                assertTrue(Float.isFinite(f));
            }
            // not collapsed to zeros
            assertTrue(out.square().mean().getFloat() > 1e-3f);
            // different prompts give different contexts
            assertTrue(out.get(0).sub(out.get(1)).abs().max().getFloat() > 1e-4f);

            try (NDManager halfWeights = NDManager.newBaseManager()) {
                T5EncoderModel half = T5EncoderModel.load(folder, halfWeights, DataType.FLOAT16);
                NDArray h = half.encode(step, ids);
                assertEquals(DataType.FLOAT16, h.getDataType());
                float maxDiff = h.toType(DataType.FLOAT32, false).sub(out).abs().max().getFloat();
                assertTrue(maxDiff < 0.05f, "float16 vs float32 max |diff| " + maxDiff);
            }
        }
    }

    /** BF16 little-endian bytes -> float32 (the upper 16 bits of an IEEE float). */
    private static float[] bf16ToFloat(ByteBuffer bytes) {
        ByteBuffer b = bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.intBitsToFloat((b.getShort(b.position() + 2 * i) & 0xffff) << 16);
        }
        return out;
    }
}
