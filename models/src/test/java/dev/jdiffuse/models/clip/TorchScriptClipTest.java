package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one-call TorchScript encoding ({@link TorchScriptClip}) against the op-by-op one through the Java modules
 * ({@code encodeComposite}), same weights and ids, fp32 on the CPU, on every CLIP text encoder of the fixtures:
 * every output (last hidden state, pooled, text_embeds, each hidden state, i.e. every clip skip, and the final norm
 * of those as clip skip applies it) within 1e-5 of the output's largest magnitude.
 */
class TorchScriptClipTest {

    private static final double TOLERANCE = 1e-5;
    /** Encoder folders: SD1 CLIP-L, SD2 OpenCLIP-H (gelu, 23 layers), SDXL's and SD3's two, the clip_text cases. */
    private static final List<String> ENCODERS = List.of("clip_text/quick_gelu", "clip_text/gelu_proj",
            "layouts/sd15/model/text_encoder", "layouts/sd2v/model/text_encoder", "layouts/sdxl/model/text_encoder",
            "layouts/sdxl/model/text_encoder_2", "layouts/sd35/model/text_encoder",
            "layouts/sd35/model/text_encoder_2", "pipeline_sd3/model/text_encoder",
            "pipeline_sd3/model/text_encoder_2");

    @BeforeAll
    static void scriptedPathOn() {
        Assumptions.assumeTrue(Boolean.parseBoolean(System.getProperty("jdiffuse.scripted", "true")),
                "the scripted path is switched off here (-Djdiffuse.scripted=false)");
    }

    @TestFactory
    List<DynamicTest> agreesWithTheOpByOpEncodingOnEveryClipFixture() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String e : ENCODERS) {
            tests.add(DynamicTest.dynamicTest(e, () -> {
                Path dir = Fixtures.require(e);
                try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
                    ClipTextModel model = ClipTextModel.load(dir, weights, DataType.FLOAT32);
                    checkBothPaths(e, model, act);
                }
            }));
        }
        return tests;
    }

    /** transformers' legacy pooling (eos_token_id 2) takes the argmax of the ids: the script must do the same. */
    @Test
    void poolsAtTheLargestIdUnderTheLegacyEosId() {
        Path dir = Fixtures.require("clip_text/quick_gelu");
        ClipTextConfig c = ClipTextConfig.read(dir.resolve("config.json"));
        ClipTextConfig legacy = new ClipTextConfig(c.hiddenSize(), c.intermediateSize(), c.numAttentionHeads(),
                c.numHiddenLayers(), c.maxPositionEmbeddings(), c.vocabSize(), c.hiddenAct(), c.layerNormEps(),
                c.projectionDim(), c.bosTokenId(), ClipScriptSource.LEGACY_EOS_ID, c.padTokenId(),
                c.architectures());
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsStateDict sd = WeightFiles.open(dir, WeightFiles.TRANSFORMERS)) {
            ClipTextModel model = ClipTextModel.load(legacy, sd.renamed(ClipTextKeys::fromTransformers), weights,
                    DataType.FLOAT32);
            checkBothPaths("legacy eos", model, act);
        }
    }

    /** Text-encoder LoRA patching replaces parameter arrays: the next encoding uses the new ones, then the old. */
    @Test
    void followsReplacedWeights() {
        Path dir = Fixtures.require("layouts/sd15/model/text_encoder");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            ClipTextModel model = ClipTextModel.load(dir, weights, DataType.FLOAT32);
            assertTrue(model.scriptedForward());
            NDArray ids = ids(act, model.config(), 2, 77, new Random(3));
            float[] before = model.encode(ids).lastHiddenState().toFloatArray();
            Parameter p = model.namedParameters().get("text_model.encoder.layers.0.self_attn.q_proj.weight");
            Parameter q = model.namedParameters().get("text_model.encoder.layers.1.mlp.fc1.weight");
            NDArray baseP = p.replace(p.get().mul(3f));
            NDArray baseQ = q.replace(q.get().mul(0.5f));
            ClipTextOutput patched = model.encode(ids);
            compare("patched", model.encodeComposite(ids).lastHiddenState(), patched.lastHiddenState());
            assertTrue(Close.maxAbs(diff(before, patched.lastHiddenState().toFloatArray())) > 1e-3,
                    "the patch changes the output");
            p.replace(baseP);
            q.replace(baseQ);
            float[] after = model.encode(ids).lastHiddenState().toFloatArray();
            Close.assertMaxAbsRelative("restored weights", Close.toDouble(before), Close.toDouble(after), TOLERANCE);
        }
    }

    @Test
    void rejectsIdsLongerThanThePositionTable() {
        Path dir = Fixtures.require("clip_text/quick_gelu");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            ClipTextModel model = ClipTextModel.load(dir, weights, DataType.FLOAT32);
            assertTrue(model.scriptedForward());
            NDArray ids = act.zeros(new Shape(1, model.config().maxPositionEmbeddings() + 1), DataType.INT64);
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> model.encode(ids));
        }
    }

    /** A model whose parameters are not the ones the generator lists gets no script (and runs op by op). */
    @Test
    void refusesParameterNamesItDoesNotWrite() {
        Path dir = Fixtures.require("clip_text/gelu_proj");
        try (NDManager weights = NDManager.newBaseManager()) {
            ClipTextModel model = ClipTextModel.load(dir, weights, DataType.FLOAT32);
            Set<String> names = model.namedParameters().keySet();
            assertEquals(names.size(), ClipScriptSource.of(model.config(), names).weightNames().size());
            Set<String> fewer = new java.util.HashSet<>(names);
            fewer.remove("text_projection.weight");
            org.junit.jupiter.api.Assertions.assertThrows(UnsupportedOperationException.class,
                    () -> ClipScriptSource.of(model.config(), fewer));
            Set<String> more = new java.util.HashSet<>(names);
            more.add("text_model.encoder.layers.0.extra.weight");
            org.junit.jupiter.api.Assertions.assertThrows(UnsupportedOperationException.class,
                    () -> ClipScriptSource.of(model.config(), more));
        }
    }

    @Test
    void aModelNotMadeByLoadRunsOpByOp() {
        Path dir = Fixtures.require("clip_text/quick_gelu");
        assertFalse(new ClipTextModel(ClipTextConfig.read(dir.resolve("config.json"))).scriptedForward());
    }

    private static void checkBothPaths(String name, ClipTextModel model, NDManager act) {
        assertTrue(model.scriptedForward(), name + ": the scripted forward is available");
        Random rnd = new Random(name.hashCode());
        // full length (SD's 77, padded after the EOS) and a shorter one (positions sliced), batches 1 and 3
        for (int[] bl : new int[][] {{2, 77}, {1, 77}, {3, 20}}) {
            NDArray ids = ids(act, model.config(), bl[0], bl[1], rnd);
            ClipTextOutput ref = model.encodeComposite(ids);
            ClipTextOutput got = model.encode(ids);
            String what = name + " B=" + bl[0] + " L=" + bl[1];
            double worst = compare(what + " last_hidden_state", ref.lastHiddenState(), got.lastHiddenState());
            worst = Math.max(worst, compare(what + " pooled", ref.pooled(), got.pooled()));
            if (model.config().withProjection()) {
                worst = Math.max(worst, compare(what + " text_embeds", ref.textEmbeds(), got.textEmbeds()));
            } else {
                assertNull(got.textEmbeds(), what + ": no text_embeds without projection");
            }
            assertEquals(ref.hiddenStates().size(), got.hiddenStates().size(), what + " hidden_states count");
            for (int fromEnd = 1; fromEnd <= ref.hiddenStates().size(); fromEnd++) {
                worst = Math.max(worst, compare(what + " hidden_states[-" + fromEnd + "]",
                        ref.hiddenStates(fromEnd), got.hiddenStates(fromEnd)));
                // clip skip as SD1 applies it: final_layer_norm(hidden_states[-n])
                worst = Math.max(worst, compare(what + " clip skip " + fromEnd,
                        model.finalLayerNorm(ref.hiddenStates(fromEnd)),
                        model.finalLayerNorm(got.hiddenStates(fromEnd))));
            }
            Close.report(String.format("%s: scripted vs op by op, worst max|diff|/max|ref| = %.2e", what, worst));
        }
    }

    private static double compare(String what, NDArray ref, NDArray got) {
        assertEquals(ref.getShape(), got.getShape(), what + " shape");
        return Close.assertMaxAbsRelative(what, Close.toDouble(ref.toFloatArray()), Close.toDouble(got.toFloatArray()),
                TOLERANCE);
    }

    /**
     * Rows of [BOS, random tokens, EOS at a random place, padding]: the EOS is not the largest id of a row when the
     * padding token is larger (SD2's and SDXL's second tokenizer pad with '!', id 0; CLIP-L pads with EOS).
     */
    private static NDArray ids(NDManager m, ClipTextConfig c, int batch, int length, Random rnd) {
        long[] flat = new long[batch * length];
        int eos = c.eosTokenId() == ClipScriptSource.LEGACY_EOS_ID ? c.vocabSize() - 1 : c.eosTokenId();
        for (int b = 0; b < batch; b++) {
            int end = 1 + rnd.nextInt(length - 1);
            for (int i = 0; i < length; i++) {
                long id;
                if (i == 0) {
                    id = Math.min(c.bosTokenId(), c.vocabSize() - 2);
                } else if (i < end) {
                    id = 3 + rnd.nextInt(c.vocabSize() - 5);
                } else if (i == end) {
                    id = eos;
                } else {
                    id = rnd.nextBoolean() ? eos : 0;
                }
                flat[b * length + i] = id;
            }
        }
        return m.create(flat, new Shape(batch, length));
    }

    private static double[] diff(float[] a, float[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }
}
