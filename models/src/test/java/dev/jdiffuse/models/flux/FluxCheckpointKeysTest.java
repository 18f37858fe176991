package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.nn.WeightMismatchException;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FluxCheckpointKeys} over the original (BFL) layout of the {@code layouts/flux_dev} and
 * {@code layouts/flux_schnell} fixtures' transformers, built by {@link BflLayout}: the view must give exactly the
 * diffusers key set, shapes and (bit-equal) values, bare and under {@code model.diffusion_model.}, leave out a
 * combined file's other components, and let loading report unknown and missing keys.
 */
class FluxCheckpointKeysTest {

    static final List<String> CASES = List.of("layouts/flux_dev", "layouts/flux_schnell");

    @TestFactory
    List<DynamicTest> viewIsTheDiffusersTransformer() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String c : CASES) {
            tests.addAll(Fixtures.checks(c,
                    Fixtures.check("bare BFL file", dir -> sameAsDiffusers(dir, "", false)),
                    Fixtures.check("ComfyUI file (model.diffusion_model., with VAE and text encoders)",
                            dir -> sameAsDiffusers(dir, FluxCheckpointKeys.PREFIX, true)),
                    Fixtures.check("unknown and missing keys", FluxCheckpointKeysTest::reportsUnknownAndMissing)));
        }
        return tests;
    }

    static Path transformer(Path caseDir) {
        return caseDir.resolve("model/transformer");
    }

    /** The case's transformer in BFL names (float32, in {@code m}). */
    static Map<String, NDArray> bfl(Path caseDir, NDManager m) {
        FluxTransformerConfig c = FluxTransformerConfig.read(transformer(caseDir).resolve("config.json"));
        try (SafetensorsStateDict diffusers = SafetensorsStateDict.open(diffusersFile(caseDir))) {
            return BflLayout.fromDiffusers(diffusers, c.numLayers(), c.numSingleLayers(), m);
        }
    }

    private static Path diffusersFile(Path caseDir) {
        return transformer(caseDir).resolve("diffusion_pytorch_model.safetensors");
    }

    /** A few tensors of other components, as a ComfyUI checkpoint bundles them. */
    private static Map<String, NDArray> otherComponents(NDManager m) {
        Map<String, NDArray> extra = new LinkedHashMap<>();
        extra.put("vae.decoder.conv_in.weight", m.ones(new Shape(4, 16, 3, 3)));
        extra.put("first_stage_model.decoder.conv_in.weight", m.ones(new Shape(4, 16, 3, 3)));
        extra.put("text_encoders.clip_l.transformer.text_model.final_layer_norm.weight",
                m.ones(new Shape(8)));
        extra.put("text_encoders.t5xxl.transformer.shared.weight", m.ones(new Shape(8, 4)));
        return extra;
    }

    private static void sameAsDiffusers(Path dir, String prefix, boolean withOthers) {
        try (NDManager m = NDManager.newBaseManager();
                SafetensorsStateDict diffusers = SafetensorsStateDict.open(diffusersFile(dir))) {
            StateDict file = BflLayout.stateDict(bfl(dir, m), prefix, withOthers ? otherComponents(m) : Map.of());
            assertEquals(prefix.isEmpty() ? "" : FluxCheckpointKeys.PREFIX, FluxCheckpointKeys.prefixOf(file.keys()));
            StateDict view = FluxCheckpointKeys.view(file);
            assertEquals(new TreeSet<>(diffusers.keys()), new TreeSet<>(view.keys()), "key set");
            for (String k : diffusers.keys()) {
                assertArrayEquals(diffusers.shape(k), view.shape(k), k + " shape");
                try (NDManager scratch = m.newSubManager()) {
                    NDArray got = view.load(k, scratch, DataType.FLOAT32);
                    assertArrayEquals(diffusers.shape(k), got.getShape().getShape(), k + " loaded shape");
                    assertArrayEquals(bits(diffusers.load(k, scratch, DataType.FLOAT32)), bits(got), k + " values");
                }
            }
            // and a loader takes the view as it is
            Module model = moduleOf(diffusers);
            WeightLoader.load(model, view, m, DataType.FLOAT32, "FLUX transformer");
            Parameter q = model.namedParameters().get("single_transformer_blocks.1.attn.to_q.weight");
            assertArrayEquals(bits(diffusers.load("single_transformer_blocks.1.attn.to_q.weight", m,
                    DataType.FLOAT32)), bits(q.get()));
        }
    }

    /**
     * A key the table does not know keeps its name (so loading names it as unexpected); a missing original key
     * leaves its diffusers keys out (so loading names them as missing), split or not.
     */
    private static void reportsUnknownAndMissing(Path dir) {
        for (String prefix : List.of("", FluxCheckpointKeys.PREFIX)) {
            try (NDManager m = NDManager.newBaseManager();
                    SafetensorsStateDict diffusers = SafetensorsStateDict.open(diffusersFile(dir))) {
                Map<String, NDArray> tensors = bfl(dir, m);
                tensors.remove("double_blocks.0.txt_attn.qkv.bias");
                tensors.remove("single_blocks.1.linear1.weight");
                tensors.remove("final_layer.adaLN_modulation.1.bias");
                tensors.put("double_blocks.0.img_attn.extra.weight", m.ones(new Shape(2)));
                tensors.put("single_blocks.0.lora_up.weight", m.ones(new Shape(2)));
                tensors.put("pe_embedder.freqs", m.ones(new Shape(2)));
                StateDict view = FluxCheckpointKeys.view(BflLayout.stateDict(tensors, prefix, Map.of()));
                Set<String> unknown = Set.of(prefix + "double_blocks.0.img_attn.extra.weight",
                        prefix + "single_blocks.0.lora_up.weight", prefix + "pe_embedder.freqs");
                Set<String> missing = new TreeSet<>(List.of("transformer_blocks.0.attn.add_q_proj.bias",
                        "transformer_blocks.0.attn.add_k_proj.bias", "transformer_blocks.0.attn.add_v_proj.bias",
                        "single_transformer_blocks.1.attn.to_q.weight", "single_transformer_blocks.1.attn.to_k.weight",
                        "single_transformer_blocks.1.attn.to_v.weight", "single_transformer_blocks.1.proj_mlp.weight",
                        "norm_out.linear.bias"));
                Set<String> expected = new TreeSet<>(diffusers.keys());
                expected.removeAll(missing);
                expected.addAll(unknown);
                assertEquals(expected, new TreeSet<>(view.keys()), prefix + " key set");
                // linear1's bias still splits without its weight (D from img_in)
                assertArrayEquals(diffusers.shape("single_transformer_blocks.1.proj_mlp.bias"),
                        view.shape("single_transformer_blocks.1.proj_mlp.bias"));
                WeightMismatchException e = assertThrows(WeightMismatchException.class,
                        () -> WeightLoader.load(moduleOf(diffusers), view, m, DataType.FLOAT32, "FLUX transformer"));
                assertEquals(missing, new TreeSet<>(e.missing()), e.getMessage());
                assertEquals(new TreeSet<>(unknown), new TreeSet<>(e.unexpected()), e.getMessage());
                assertTrue(e.wrongShape().isEmpty(), e.getMessage());
            }
        }
    }

    /** A module whose parameters are exactly {@code weights}' keys and shapes (the diffusers model's, for loading). */
    private static Module moduleOf(StateDict weights) {
        return new Module() {
            {
                for (String k : new TreeSet<>(weights.keys())) {
                    param(k, weights.shape(k));
                }
            }
        };
    }

    private static int[] bits(NDArray a) {
        float[] f = a.toFloatArray();
        int[] out = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = Float.floatToRawIntBits(f[i]);
        }
        return out;
    }
}
