package dev.jdiffuse.models.clip;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Properties of the encoder that hold for any weights: causality, EOS pooling, clip-skip access. */
class ClipTextModelBehaviourTest {

    /** The first {@code clip_text} case's model loaded in one dtype, with the case's inputs and outputs. */
    private record Loaded(String name, ClipTextModel model, SafetensorsFile io, NDManager weights, NDManager step) {
        int[][] ids() {
            return ClipTextModelTest.ids(io);
        }
    }

    private interface Check {
        void run(Loaded c);
    }

    /** Loads the first {@code clip_text} case's model in {@code dtype} and runs {@code check} on it. */
    private static void onFirstCase(DataType dtype, Check check) {
        List<Path> cases = Fixtures.cases("clip_text");
        Path dir = cases.isEmpty() ? Fixtures.require("clip_text") : cases.get(0);
        try (NDManager weights = NDManager.newBaseManager(); NDManager step = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            ClipTextModel model = ClipTextModel.load(dir, weights, dtype);
            check.run(new Loaded(Fixtures.displayName(dir), model, io, weights, step));
        }
    }

    @Test
    void causalMaskMakesPrefixesIndependentOfLaterTokens() {
        onFirstCase(DataType.FLOAT32, c -> {
            int[][] ids = c.ids();
            int prefix = 5;
            int[][] shortIds = Arrays.stream(ids).map(r -> Arrays.copyOf(r, prefix)).toArray(int[][]::new);
            NDArray full = c.model().encode(c.step(), ids).hiddenStates(1).get(new NDIndex(":, 0:{}", prefix));
            NDArray cut = c.model().encode(c.step(), shortIds).hiddenStates(1);
            double err = Close.assertMaxAbsRelative(c.name() + " prefix of length " + prefix,
                    Close.toDouble(full.toFloatArray()), Close.toDouble(cut.toFloatArray()), 1e-5);
            Close.report(String.format("%s causal prefix: max|diff|/max|ref| = %.3e", c.name(), err));
        });
    }

    @Test
    void pooledIsTheFinalNormedStateAtTheFirstEos() {
        onFirstCase(DataType.FLOAT32, c -> {
            ClipTextModel model = c.model();
            int[][] ids = c.ids();
            ClipTextOutput out = model.encode(c.step(), ids);
            for (int b = 0; b < ids.length; b++) {
                int eos = Arrays.stream(ids[b]).boxed().toList().indexOf(model.config().eosTokenId());
                float[] expected = out.lastHiddenState().get(b, eos).toFloatArray();
                float[] actual = out.pooled().get(b).toFloatArray();
                Close.assertMaxAbs("row " + b, Close.toDouble(expected), Close.toDouble(actual), 0);
            }
            NDArray renormed = model.finalLayerNorm(out.hiddenStates(1));
            Close.assertMaxAbs("final_layer_norm(hidden_states[-1]) = last_hidden_state",
                    Close.toDouble(out.lastHiddenState().toFloatArray()), Close.toDouble(renormed.toFloatArray()), 0);
            assertSame(out.hiddenStates(2), out.penultimate());
            assertEquals(model.config().numHiddenLayers() + 1, out.hiddenStates().size());
        });
    }

    @Test
    void halfPrecisionRunsInTheWeightsDtype() {
        onFirstCase(DataType.FLOAT16, c -> {
            ClipTextOutput out = c.model().encode(c.step(), c.ids());
            assertEquals(DataType.FLOAT16, out.lastHiddenState().getDataType());
            assertEquals(DataType.FLOAT16, out.pooled().getDataType());
            // fp16 keeps 11 bits of mantissa: rounding of a few 1e-3 of max|ref| after a handful of layers
            double err = Close.assertMaxAbsRelative(c.name() + " fp16 last_hidden_state",
                    Close.toDouble(c.io().toFloatArray("last_hidden_state")),
                    Close.toDouble(out.lastHiddenState().toType(DataType.FLOAT32, false).toFloatArray()), 1e-2);
            Close.report(String.format("%s fp16 on CPU: max|diff|/max|ref| = %.3e", c.name(), err));
        });
    }

    @Test
    void repeatedEncodingCreatesNothingInTheWeightsManager() {
        onFirstCase(DataType.FLOAT32, c -> {
            int[][] ids = c.ids();
            int[] counts = new int[3];
            for (int round = 0; round < counts.length; round++) {
                try (NDManager step = c.weights().newSubManager()) {
                    c.model().encode(step, ids).lastHiddenState().toFloatArray();
                }
                counts[round] = ((BaseNDManager) c.weights()).getManagedArrays().size();
            }
            assertEquals(counts[0], counts[2], "arrays held by the weights' manager after rounds 1 and 3");
        });
    }
}
