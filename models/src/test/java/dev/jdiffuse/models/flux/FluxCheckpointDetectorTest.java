package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.checkpoint.Sd3CheckpointDetector;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FluxCheckpointDetector} on the BFL layout of the {@code layouts/flux_*} fixtures (against their
 * {@code config.json}) and on headers with the released FLUX.1-dev / schnell shapes (built here from the architecture:
 * D = 24 heads x 128, T5-XXL context 4096, CLIP-L pooled 768, 64 packed latent channels, MLP 4 D, 19 double and 38
 * single blocks; values never read).
 */
class FluxCheckpointDetectorTest {

    private static final String P = FluxCheckpointKeys.PREFIX;

    @TestFactory
    List<DynamicTest> recoversTheFixtureConfig() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String c : FluxCheckpointKeysTest.CASES) {
            tests.addAll(Fixtures.checks(c, Fixtures.check("detected config", FluxCheckpointDetectorTest::fixture)));
        }
        return tests;
    }

    private static void fixture(Path dir) {
        FluxTransformerConfig expected = FluxTransformerConfig.read(
                FluxCheckpointKeysTest.transformer(dir).resolve("config.json"));
        try (NDManager m = NDManager.newBaseManager()) {
            var tensors = FluxCheckpointKeysTest.bfl(dir, m);
            for (String prefix : List.of("", P)) {
                StateDict file = BflLayout.stateDict(tensors, prefix, Map.of());
                assertTrue(FluxCheckpointDetector.isFluxCheckpoint(file.keys()), prefix);
                assertFalse(Sd3CheckpointDetector.isSd3(file.keys()), prefix);
                // 16-wide heads: the axes are not FLUX.1's and the file does not hold them
                CheckpointFormatException noAxes = assertThrows(CheckpointFormatException.class,
                        () -> FluxCheckpointDetector.detect(file, "tiny"));
                assertTrue(noAxes.getMessage().contains("axes_dims_rope")
                        && noAxes.getMessage().contains("config.json"), noAxes.getMessage());
                assertEquals(expected, FluxCheckpointDetector.detect(file, "tiny", expected.axesDimsRope()), prefix);
                assertSame(expected, FluxCheckpointDetector.requireMatches(expected, file, "tiny"));
                FluxTransformerConfig other = new FluxTransformerConfig(1, expected.inChannels(),
                        expected.outChannels(), expected.numLayers(), expected.numSingleLayers() + 1,
                        expected.attentionHeadDim(), expected.numAttentionHeads(), expected.jointAttentionDim(),
                        expected.pooledProjectionDim(), !expected.guidanceEmbeds(), expected.axesDimsRope());
                CheckpointFormatException differs = assertThrows(CheckpointFormatException.class,
                        () -> FluxCheckpointDetector.requireMatches(other, file, "tiny"));
                assertTrue(differs.getMessage().contains("num_single_layers")
                        && differs.getMessage().contains("guidance_embeds")
                        && !differs.getMessage().contains("num_layers is"), differs.getMessage());
            }
        }
    }

    @Test
    void releasedDevShapes() {
        for (String prefix : List.of("", P)) {
            StateDict dev = released(prefix, true).dict();
            FluxTransformerConfig c = FluxCheckpointDetector.detect(dev, "flux1-dev");
            assertEquals(new FluxTransformerConfig(1, 64, 64, 19, 38, 128, 24, 4096, 768, true, List.of(16, 56, 56)),
                    c, prefix);
            // the view has the diffusers model's shapes
            StateDict view = FluxCheckpointKeys.view(dev);
            assertArrayEquals(new long[] {3072, 3072}, view.shape("transformer_blocks.18.attn.add_v_proj.weight"));
            assertArrayEquals(new long[] {3072}, view.shape("transformer_blocks.0.attn.to_k.bias"));
            assertArrayEquals(new long[] {3072, 3072}, view.shape("single_transformer_blocks.37.attn.to_v.weight"));
            assertArrayEquals(new long[] {12288, 3072}, view.shape("single_transformer_blocks.37.proj_mlp.weight"));
            assertArrayEquals(new long[] {12288}, view.shape("single_transformer_blocks.0.proj_mlp.bias"));
            assertArrayEquals(new long[] {6144, 3072}, view.shape("norm_out.linear.weight"));
            assertArrayEquals(new long[] {3072, 256}, view.shape("time_text_embed.guidance_embedder.linear_1.weight"));
            // 19 x 32 + 38 x 14 + 20 (16 without guidance) tensors, as diffusers' FLUX.1-dev has: qkv / linear1 in 3 / 4
            assertEquals(19 * 32 + 38 * 14 + 20, view.keys().size());
        }
    }

    @Test
    void releasedSchnellShapes() {
        StateDict schnell = released(P, false).dict();
        FluxTransformerConfig c = FluxCheckpointDetector.detect(schnell, "flux1-schnell");
        assertFalse(c.guidanceEmbeds());
        assertEquals(List.of(16, 56, 56), c.axesDimsRope());
        assertEquals(19, c.numLayers());
        assertEquals(38, c.numSingleLayers());
        assertEquals(19 * 32 + 38 * 14 + 16, FluxCheckpointKeys.view(schnell).keys().size());
    }

    @Test
    void otherFamiliesAreNotFlux() {
        // SD 3's MMDiT
        assertFalse(FluxCheckpointDetector.isFluxCheckpoint(Set.of(P + "joint_blocks.0.x_block.attn.qkv.weight",
                P + "x_embedder.proj.weight")));
        // FLUX.2 and Chroma also have double_blocks and img_in, but shared modulations instead of per-block ones
        assertFalse(FluxCheckpointDetector.isFluxCheckpoint(Set.of("img_in.weight", "double_blocks.0.img_attn.qkv.weight",
                "single_blocks.0.linear1.weight", "double_stream_modulation_img.lin.weight",
                "single_stream_modulation.lin.weight")));
        assertFalse(FluxCheckpointDetector.isFluxCheckpoint(Set.of(P + "img_in.weight",
                P + "double_blocks.0.img_attn.qkv.weight", P + "single_blocks.0.linear1.weight",
                P + "distilled_guidance_layer.in_proj.bias")));
        // parts of a prefix do not mix
        assertFalse(FluxCheckpointDetector.isFluxCheckpoint(Set.of("img_in.weight",
                P + "double_blocks.0.img_mod.lin.weight", P + "single_blocks.0.modulation.lin.weight")));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> FluxCheckpointDetector.detect(StateDict.of(Set.of("x"), k -> new long[] {1}, (k, m, d) -> null),
                        "sd.safetensors"));
        assertTrue(e.getMessage().contains("not an original FLUX.1 transformer"), e.getMessage());
    }

    @Test
    void refusesAnMlpDiffusersCannotHold() {
        Header h = released("", true);
        h.put("double_blocks.0.img_mlp.0.weight", 3L * 3072, 3072);
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> FluxCheckpointDetector.detect(h.dict(), "odd"));
        assertTrue(e.getMessage().contains("MLP"), e.getMessage());
    }

    /** Header of a released FLUX.1 transformer: every BFL key with its shape (dev: with guidance_in). */
    private static Header released(String prefix, boolean guidance) {
        long d = 3072;
        long mlp = 4 * d;
        Header h = new Header(prefix);
        h.linear("img_in", d, 64);
        h.linear("txt_in", d, 4096);
        h.linear("time_in.in_layer", d, 256);
        h.linear("time_in.out_layer", d, d);
        h.linear("vector_in.in_layer", d, 768);
        h.linear("vector_in.out_layer", d, d);
        if (guidance) {
            h.linear("guidance_in.in_layer", d, 256);
            h.linear("guidance_in.out_layer", d, d);
        }
        for (int i = 0; i < 19; i++) {
            for (String s : List.of("img", "txt")) {
                String b = "double_blocks." + i + "." + s;
                h.linear(b + "_mod.lin", 6 * d, d);
                h.linear(b + "_attn.qkv", 3 * d, d);
                h.put(b + "_attn.norm.query_norm.scale", 128);
                h.put(b + "_attn.norm.key_norm.scale", 128);
                h.linear(b + "_attn.proj", d, d);
                h.linear(b + "_mlp.0", mlp, d);
                h.linear(b + "_mlp.2", d, mlp);
            }
        }
        for (int i = 0; i < 38; i++) {
            String b = "single_blocks." + i + ".";
            h.linear(b + "linear1", 3 * d + mlp, d);
            h.linear(b + "linear2", d, d + mlp);
            h.put(b + "norm.query_norm.scale", 128);
            h.put(b + "norm.key_norm.scale", 128);
            h.linear(b + "modulation.lin", 3 * d, d);
        }
        h.linear("final_layer.linear", 64, d);
        h.linear("final_layer.adaLN_modulation.1", 2 * d, d);
        return h;
    }

    /** Keys and shapes only; loading a value fails. */
    private record Header(String prefix, Map<String, long[]> shapes) {

        Header(String prefix) {
            this(prefix, new LinkedHashMap<>());
        }

        void put(String key, long... shape) {
            shapes.put(prefix + key, shape);
        }

        void linear(String name, long out, long in) {
            put(name + ".weight", out, in);
            put(name + ".bias", out);
        }

        StateDict dict() {
            return StateDict.of(shapes.keySet(), shapes::get, (k, m, d) -> {
                throw new AssertionError("detection read the value of " + k);
            });
        }
    }
}
