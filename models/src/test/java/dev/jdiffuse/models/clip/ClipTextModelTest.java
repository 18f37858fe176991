package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parity with transformers' CLIPTextModel / CLIPTextModelWithProjection on every {@code clip_text/*} case. */
class ClipTextModelTest {

    private static final String PARENT = "clip_text";
    /** Reference tensor name in io.safetensors -> the output it pins. */
    private static final Map<String, Function<ClipTextOutput, NDArray>> OUTPUTS = Map.of(
            "last_hidden_state", ClipTextOutput::lastHiddenState,
            "penultimate_hidden_state", ClipTextOutput::penultimate,
            "pooler_output", ClipTextOutput::pooled,
            "text_embeds", ClipTextOutput::textEmbeds);

    @TestFactory
    List<DynamicTest> everyCase() {
        return Fixtures.eachCase(PARENT, ClipTextModelTest::check);
    }

    private static void check(Path dir) {
        String name = Fixtures.displayName(dir);
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            ClipTextModel model = ClipTextModel.load(dir, weights, DataType.FLOAT32);
            int[][] ids = ids(io);
            ClipTextOutput out = model.encode(step, ids);
            assertEquals(model.config().numHiddenLayers() + 1, out.hiddenStates().size(), "hidden_states count");
            int compared = 0;
            for (String tensor : io.names()) {
                Function<ClipTextOutput, NDArray> pick = OUTPUTS.get(tensor);
                if (pick == null) {
                    continue;
                }
                NDArray actual = pick.apply(out);
                assertArrayEquals(io.info(tensor).shape(), actual.getShape().getShape(), tensor + " shape");
                double err = Close.assertMaxAbsRelative(name + " " + tensor, Close.toDouble(io.toFloatArray(tensor)),
                        Close.toDouble(actual.toFloatArray()), 1e-3);
                Close.report(String.format("%s %s: max|diff|/max|ref| = %.3e", name, tensor, err));
                compared++;
            }
            assertTrue(compared >= 2, "the case pins at least two outputs");
            assertEquals(model.config().withProjection(), out.textEmbeds() != null, "text_embeds iff projection");
        }
    }

    /** input_ids [B, L] (int64) from io.safetensors. */
    static int[][] ids(SafetensorsFile io) {
        long[] shape = io.info("input_ids").shape();
        long[] flat = io.toLongArray("input_ids");
        int[][] ids = new int[(int) shape[0]][(int) shape[1]];
        for (int b = 0; b < ids.length; b++) {
            for (int i = 0; i < ids[b].length; i++) {
                ids[b][i] = Math.toIntExact(flat[b * ids[b].length + i]);
            }
        }
        return ids;
    }

}
