package dev.jdiffuse.models.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs on FLUX.1 (the {@code layouts/flux_dev} fixture: D = 32, MLP 128, one double and two single blocks, a 3-layer
 * CLIP-L). No diffusers reference exists for a FLUX LoRA, so the math and the mapping are pinned: one set of random
 * layers written as a kohya / sd-scripts file (BFL names, fused {@code qkv} and {@code linear1}, CLIP-L under
 * {@code lora_te1_}) and as the diffusers / PEFT file that describes the same deltas (each fused layer as its modules,
 * {@code up}'s rows split, {@code down} repeated). Every adapted weight must be
 * {@code W + scale * (alpha / rank) * up[rows] @ down}, computed here in double from this test's own table of
 * diffusers' {@code _convert_sd_scripts_to_ai_toolkit} names; every other adaptable weight must stay bit-for-bit the
 * loaded one; both files must patch bit-identical weights and render bit-identical images (64 x 64, 2 steps), scale 0
 * the base image; ComfyUI's spelling of kohya keys patches the same bits; LoRAs of SD are refused on FLUX and FLUX
 * ones on SD, with the pipeline's {@code lora_mismatch}.
 */
class FluxLoraTest {

    private static final String MODEL = "layouts/flux_dev/model";
    private static final double SCALE = 0.8;
    /** float32 merge vs this test's double sums, on weights and deltas of a few units at most (ulp ~ 2e-7). */
    private static final double TOL = 2e-6;

    private static DiffusionPipeline pipe;
    private static Map<String, float[]> base;
    private static float[] baseImage;

    @TempDir
    Path tmp;

    /**
     * One layer of the kohya file: its name (without {@code lora_unet_} / {@code lora_te1_}), the diffusers weights
     * ({@code <target>.<module>}) whose rows it stacks, whether those are swapped halves of one weight, rank and
     * alpha (null: none in the file).
     */
    private record Layer(String kohya, List<String> modules, boolean swapped, int rank, Float alpha) {

        static Layer of(String kohya, int rank, Float alpha, String... modules) {
            return new Layer(kohya, List.of(modules), false, rank, alpha);
        }

        String kohyaPrefix() {
            return modules.get(0).startsWith("text_encoder.") ? "lora_te1_" : "lora_unet_";
        }
    }

    /** The layers, named as diffusers' converter maps them (transformer_blocks.0 is BFL's double_blocks_0). */
    private static final List<Layer> LAYERS = List.of(
            Layer.of("double_blocks_0_img_attn_qkv", 4, 2f, "transformer.transformer_blocks.0.attn.to_q",
                    "transformer.transformer_blocks.0.attn.to_k", "transformer.transformer_blocks.0.attn.to_v"),
            Layer.of("double_blocks_0_txt_attn_qkv", 3, null, "transformer.transformer_blocks.0.attn.add_q_proj",
                    "transformer.transformer_blocks.0.attn.add_k_proj",
                    "transformer.transformer_blocks.0.attn.add_v_proj"),
            Layer.of("double_blocks_0_img_attn_proj", 4, 8f, "transformer.transformer_blocks.0.attn.to_out.0"),
            Layer.of("double_blocks_0_txt_attn_proj", 4, 1f, "transformer.transformer_blocks.0.attn.to_add_out"),
            Layer.of("double_blocks_0_img_mlp_0", 4, 4f, "transformer.transformer_blocks.0.ff.net.0.proj"),
            Layer.of("double_blocks_0_img_mlp_2", 2, null, "transformer.transformer_blocks.0.ff.net.2"),
            Layer.of("double_blocks_0_txt_mlp_0", 4, 2f, "transformer.transformer_blocks.0.ff_context.net.0.proj"),
            Layer.of("double_blocks_0_txt_mlp_2", 4, 2f, "transformer.transformer_blocks.0.ff_context.net.2"),
            Layer.of("double_blocks_0_img_mod_lin", 4, 2f, "transformer.transformer_blocks.0.norm1.linear"),
            Layer.of("double_blocks_0_txt_mod_lin", 4, 2f, "transformer.transformer_blocks.0.norm1_context.linear"),
            Layer.of("single_blocks_0_linear1", 4, 2f, "transformer.single_transformer_blocks.0.attn.to_q",
                    "transformer.single_transformer_blocks.0.attn.to_k",
                    "transformer.single_transformer_blocks.0.attn.to_v",
                    "transformer.single_transformer_blocks.0.proj_mlp"),
            Layer.of("single_blocks_1_linear1", 8, 4f, "transformer.single_transformer_blocks.1.attn.to_q",
                    "transformer.single_transformer_blocks.1.attn.to_k",
                    "transformer.single_transformer_blocks.1.attn.to_v",
                    "transformer.single_transformer_blocks.1.proj_mlp"),
            Layer.of("single_blocks_1_linear2", 4, 2f, "transformer.single_transformer_blocks.1.proj_out"),
            Layer.of("single_blocks_0_modulation_lin", 4, null, "transformer.single_transformer_blocks.0.norm.linear"),
            Layer.of("img_in", 4, 2f, "transformer.x_embedder"),
            Layer.of("txt_in", 4, 2f, "transformer.context_embedder"),
            Layer.of("time_in_in_layer", 4, 2f, "transformer.time_text_embed.timestep_embedder.linear_1"),
            Layer.of("vector_in_out_layer", 4, 2f, "transformer.time_text_embed.text_embedder.linear_2"),
            Layer.of("guidance_in_in_layer", 4, 2f, "transformer.time_text_embed.guidance_embedder.linear_1"),
            Layer.of("final_layer_linear", 4, 2f, "transformer.proj_out"),
            new Layer("final_layer_adaLN_modulation_1", List.of("transformer.norm_out.linear"), true, 4, 2f),
            Layer.of("text_model_encoder_layers_0_self_attn_q_proj", 4, 2f,
                    "text_encoder.text_model.encoder.layers.0.self_attn.q_proj"),
            Layer.of("text_model_encoder_layers_2_mlp_fc1", 4, null,
                    "text_encoder.text_model.encoder.layers.2.mlp.fc1"));

    /** A layer's tensors: down [r, in], up [out, r] (out: its modules' rows stacked, before any swap). */
    private record Tensors(float[] down, float[] up, long in, long out) {
    }

    @BeforeAll
    static void open() {
        if (!Fixtures.present(MODEL)) {
            return;
        }
        pipe = FluxFamily.withMaxSequenceLength(Pipelines.open(Fixtures.root().resolve(MODEL),
                LoadOptions.cpu()), 32);
        base = snapshot();
        baseImage = render(null);
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    @Test
    void kohyaAndPeftFilesPatchAsTheFormulaSaysAndAgreeBitForBit() {
        Fixtures.require(MODEL);
        Map<Layer, Tensors> layers = tensors(new Random(20241204));
        LoraFile kohya = LoraFile.read(writeKohya(layers, tmp.resolve("flux_kohya.safetensors")));
        LoraFile peft = LoraFile.read(writePeft(layers, tmp.resolve("flux_peft.safetensors")));
        assertEquals(LoraFormat.KOHYA, kohya.format());
        assertEquals(LoraFormat.PEFT, peft.format());
        for (LoraFile f : List.of(kohya, peft)) {
            assertEquals("flux", f.family(), f.toString());
            assertEquals(Set.of("text_encoder", "transformer"), f.targets(), f.toString());
            assertEquals(List.of(), pipe.check(request(f, SCALE)), f.toString());
        }

        float[] kohyaImage = render(new LoraSpec("kohya", kohya, SCALE));
        Map<String, float[]> kohyaWeights = snapshot();
        Set<String> adapted = new java.util.TreeSet<>();
        for (Layer l : LAYERS) {
            checkFormula(l, layers.get(l), kohyaWeights);
            adapted.addAll(l.modules());
        }
        for (String w : base.keySet()) {
            if (!adapted.contains(w)) {
                assertArrayEquals(base.get(w), kohyaWeights.get(w), w + " is no LoRA layer's: unchanged");
            }
        }
        assertFalse(Arrays.equals(baseImage, kohyaImage), "the LoRA changes the image");

        float[] peftImage = render(new LoraSpec("peft", peft, SCALE));
        Map<String, float[]> peftWeights = snapshot();
        for (String w : base.keySet()) {
            assertArrayEquals(kohyaWeights.get(w), peftWeights.get(w), w + ": kohya and PEFT patch the same bits");
        }
        assertArrayEquals(kohyaImage, peftImage, "kohya and PEFT files give the same image");

        float[] off = render(new LoraSpec("kohya", kohya, 0));
        assertTrue(pipe.appliedLoras().isEmpty(), "scale 0 takes the LoRA off");
        assertArrayEquals(baseImage, off, "scale 0: the base image");
        Map<String, float[]> restored = snapshot();
        base.forEach((w, v) -> assertArrayEquals(v, restored.get(w), w + " is the loaded weight again"));
    }

    /**
     * ComfyUI's spelling of the kohya file ({@code diffusion_model.double_blocks.0.img_attn.qkv.lora_down.weight},
     * {@code text_encoders.clip_l.transformer.text_model...}) is read as kohya's: the same weights bit for bit.
     */
    @Test
    void comfyNamesPatchWhatKohyaNamesPatch() {
        Fixtures.require(MODEL);
        Map<Layer, Tensors> layers = tensors(new Random(77));
        Path kohyaPath = writeKohya(layers, tmp.resolve("k.safetensors"));
        LoraFile comfy = LoraFile.read(LoraFixtures.rewrite(kohyaPath, tmp.resolve("c.safetensors"),
                FluxLoraTest::comfyKey, Map.of()));
        assertEquals(LoraFormat.KOHYA, comfy.format());
        assertEquals("flux", comfy.family());
        assertTrue(comfy.modules().stream().allMatch(m -> m.downKey().startsWith("diffusion_model.")
                || m.downKey().startsWith("text_encoders.clip_l.transformer.")), comfy.modules().toString());
        float[] kohyaImage = render(new LoraSpec("k", LoraFile.read(kohyaPath), SCALE));
        Map<String, float[]> kohyaWeights = snapshot();
        float[] comfyImage = render(new LoraSpec("c", comfy, SCALE));
        Map<String, float[]> comfyWeights = snapshot();
        kohyaWeights.forEach((w, v) -> assertArrayEquals(v, comfyWeights.get(w), w));
        assertArrayEquals(kohyaImage, comfyImage);
        render(null);
    }

    /** A kohya key of this test's file in ComfyUI's spelling: BFL's dotted module path under its component. */
    private static String comfyKey(String kohyaKey) {
        int dot = kohyaKey.indexOf('.');
        String name = kohyaKey.substring(0, dot);
        String suffix = kohyaKey.substring(dot);
        if (name.startsWith("lora_te1_")) {
            return "text_encoders.clip_l.transformer." + name.substring("lora_te1_".length())
                    .replaceAll("^text_model_encoder_layers_(\\d+)_", "text_model.encoder.layers.$1.")
                    .replace("self_attn_", "self_attn.").replace("mlp_", "mlp.") + suffix;
        }
        String bfl = name.substring("lora_unet_".length())
                .replaceAll("^(double_blocks|single_blocks)_(\\d+)_", "$1.$2.")
                .replaceAll("(img|txt)_(attn|mlp|mod)_", "$1_$2.")
                .replaceAll("^(time_in|vector_in|guidance_in)_", "$1.")
                .replace("modulation_lin", "modulation.lin")
                .replace("final_layer_adaLN_modulation_1", "final_layer.adaLN_modulation.1")
                .replace("final_layer_linear", "final_layer.linear");
        return "diffusion_model." + bfl + suffix;
    }

    /**
     * kohya-style layers named by the diffusers module path ({@code lora_transformer_single_transformer_blocks_0_...},
     * diffusers' "mixture" files) adapt the weights the PEFT file's layers of the same path adapt, whole.
     */
    @Test
    void underscoredDiffusersNamesMatchThePeftLayers() {
        Fixtures.require(MODEL);
        Path peftPath = writePeft(tensors(new Random(5)), tmp.resolve("p.safetensors"));
        LoraFile peft = LoraFile.read(peftPath);
        LoraFile mixture = LoraFile.read(LoraFixtures.rewrite(peftPath, tmp.resolve("m.safetensors"),
                k -> k.startsWith("transformer.") ? "lora_transformer_" + k.substring("transformer.".length())
                        .replaceAll("\\.(lora_A\\.weight|lora_B\\.weight|alpha)$", "")
                        .replace('.', '_') + (k.endsWith(".lora_A.weight") ? ".lora_down.weight"
                        : k.endsWith(".lora_B.weight") ? ".lora_up.weight" : ".alpha") : null, Map.of()));
        assertEquals(LoraFormat.KOHYA, mixture.format());
        assertEquals(Set.of("transformer"), mixture.targets());
        assertEquals(List.of(), pipe.check(request(mixture, 1.0)));
        LoraTargets targets = targets();
        Map<String, Parameter> byPath = new HashMap<>();
        peft.modules().stream().filter(m -> m.target().equals("transformer"))
                .forEach(m -> byPath.put(m.name().replace('.', '_'), targets.weightOf(m)));
        assertEquals(byPath.size(), mixture.modules().size());
        for (LoraModule m : mixture.modules()) {
            assertNotNull(targets.weightOf(m), m.name());
            assertSame(byPath.get(m.name()), targets.weightOf(m), m.name());
        }
    }

    /** Layers the table does not know, blocks the model does not have, and misfit shapes are refused, listed. */
    @Test
    void unknownLayersAndMisfitsAreListed() {
        Fixtures.require(MODEL);
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", random(new Random(1), 4, 32));
        t.put("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", random(new Random(2), 96, 4));
        t.put("lora_unet_double_blocks_0_img_attn_norm_query_norm.lora_down.weight", random(new Random(3), 4, 16));
        t.put("lora_unet_double_blocks_0_img_attn_norm_query_norm.lora_up.weight", random(new Random(4), 16, 4));
        t.put("lora_unet_double_blocks_7_txt_attn_qkv.lora_down.weight", random(new Random(5), 4, 32));
        t.put("lora_unet_double_blocks_7_txt_attn_qkv.lora_up.weight", random(new Random(6), 96, 4));
        t.put("lora_unet_single_blocks_0_linear1.lora_down.weight", random(new Random(7), 4, 32));
        t.put("lora_unet_single_blocks_0_linear1.lora_up.weight", random(new Random(8), 96, 4));
        Path file = tmp.resolve("odd.safetensors");
        SafetensorsWriter.write(file, t);
        List<FieldError> errors = pipe.check(request(LoraFile.read(file), 1.0));
        assertEquals(1, errors.size(), errors.toString());
        FieldError e = errors.get(0);
        assertEquals("loras[0].name", e.field());
        assertEquals("lora_mismatch", e.code());
        assertTrue(e.message().contains("lora_unet_double_blocks_0_img_attn_norm_query_norm.lora_down.weight"),
                e.message());
        assertTrue(e.message().contains("lora_unet_double_blocks_7_txt_attn_qkv.lora_down.weight"), e.message());
        assertTrue(e.message().contains("single_blocks_0_linear1 down (4, 32) up (96, 4)"), e.message());
        assertFalse(e.message().contains("img_attn_qkv.lora_down"), "the good layer is not listed: " + e.message());

        // sd-scripts' T5 layers (lora_te3_) are no layout this reads: the file is refused, the key named
        Map<String, TensorData> t5 = new LinkedHashMap<>(t);
        t5.put("lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight", random(new Random(9), 4, 32));
        Path t5File = tmp.resolve("t5.safetensors");
        SafetensorsWriter.write(t5File, t5);
        LoraException bad = assertThrows(LoraException.class, () -> LoraFile.read(t5File));
        assertTrue(bad.getMessage().contains("lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight"),
                bad.getMessage());
    }

    /** The SD 1.5 kohya fixture does not fit FLUX, and a FLUX LoRA does not fit its SD 1.5 model. */
    @Test
    void loraOfAnotherFamilyIsRefusedEitherWay() throws Exception {
        Fixtures.require(MODEL);
        Path sd15 = Fixtures.require("lora/sd15_kohya");
        LoraFile sdLora = LoraFile.read(LoraFixtures.loraFile(sd15));
        assertFalse("flux".equals(sdLora.family()));
        List<FieldError> onFlux = pipe.check(request(sdLora, 1.0));
        assertEquals(1, onFlux.size(), onFlux.toString());
        assertEquals("lora_mismatch", onFlux.get(0).code());
        assertTrue(onFlux.get(0).message().contains("keys that match no weight of this model"),
                onFlux.get(0).message());
        assertTrue(onFlux.get(0).message().contains("lora_unet_"), onFlux.get(0).message());

        LoraFile fluxLora = LoraFile.read(writeKohya(tensors(new Random(3)), tmp.resolve("flux.safetensors")));
        try (DiffusionPipeline sd = Pipelines.open(LoraFixtures.model(sd15), LoadOptions.cpu())) {
            List<FieldError> onSd = sd.check(request(fluxLora, 1.0));
            assertEquals(1, onSd.size(), onSd.toString());
            assertEquals("lora_mismatch", onSd.get(0).code());
            assertTrue(onSd.get(0).message().contains("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight"),
                    onSd.get(0).message());
        }
    }

    /**
     * Without fixtures: kohya FLUX names target the transformer; FLUX.1 is told by those names, by diffusers'
     * single-stream blocks, by a 3072-wide double-block {@code to_q}, or by kohya's metadata; SD3-wide transformer
     * layers and SD names are not FLUX.
     */
    @Test
    void familyAndTargetsFromTheHeader() {
        LoraFile kohya = header(Map.of(), "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", 4, 3072,
                "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", 9216, 4,
                "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", 4, 768,
                "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", 3072, 4);
        assertEquals(LoraFormat.KOHYA, kohya.format());
        assertEquals(Set.of("text_encoder", "transformer"), kohya.targets());
        assertEquals("flux", kohya.family());
        LoraFile comfy = header(Map.of(), "diffusion_model.single_blocks.0.linear1.lora_down.weight", 4, 3072,
                "diffusion_model.single_blocks.0.linear1.lora_up.weight", 21504, 4);
        assertEquals(LoraFormat.KOHYA, comfy.format());
        assertEquals(Set.of("transformer"), comfy.targets());
        assertEquals("single_blocks_0_linear1", comfy.modules().get(0).name());
        assertEquals("flux", comfy.family());
        LoraFile mixture = header(Map.of(),
                "lora_transformer_single_transformer_blocks_0_attn_to_q.lora_down.weight", 4, 3072,
                "lora_transformer_single_transformer_blocks_0_attn_to_q.lora_up.weight", 3072, 4);
        assertEquals(LoraFormat.KOHYA, mixture.format());
        assertEquals(Set.of("transformer"), mixture.targets());
        assertEquals("flux", mixture.family());
        assertEquals(null, header(Map.of(),
                "lora_transformer_transformer_blocks_0_attn_to_q.lora_down.weight", 4, 1536,
                "lora_transformer_transformer_blocks_0_attn_to_q.lora_up.weight", 1536, 4).family(), "SD3's width");
        LoraFile single = header(Map.of(), "transformer.single_transformer_blocks.3.proj_out.lora_A.weight", 4, 64,
                "transformer.single_transformer_blocks.3.proj_out.lora_B.weight", 16, 4);
        assertEquals(LoraFormat.PEFT, single.format());
        assertEquals(Set.of("transformer"), single.targets());
        assertEquals("flux", single.family());
        assertEquals("flux", header(Map.of(), "transformer.transformer_blocks.0.attn.to_q.lora_A.weight", 4, 3072,
                "transformer.transformer_blocks.0.attn.to_q.lora_B.weight", 3072, 4).family());
        assertEquals(null, header(Map.of(), "transformer.transformer_blocks.0.attn.to_q.lora_A.weight", 4, 1536,
                "transformer.transformer_blocks.0.attn.to_q.lora_B.weight", 1536, 4).family(), "SD3's width");
        assertEquals("flux", header(Map.of("ss_base_model_version", "flux1"),
                "transformer.transformer_blocks.0.attn.to_q.lora_A.weight", 4, 1536,
                "transformer.transformer_blocks.0.attn.to_q.lora_B.weight", 1536, 4).family(), "the metadata says");
        LoraFile sd = header(Map.of(),
                "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight", 4, 768,
                "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight", 320, 4);
        assertEquals(Set.of("unet"), sd.targets());
        assertEquals("sd1", sd.family());
    }

    /** A LoRA file's header: (key, rows, cols) triples. */
    private static LoraFile header(Map<String, String> metadata, Object... keyRowsCols) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (int i = 0; i < keyRowsCols.length; i += 3) {
            shapes.put((String) keyRowsCols[i], new long[] {(Integer) keyRowsCols[i + 1],
                    (Integer) keyRowsCols[i + 2]});
        }
        return LoraFile.of(Path.of("header.safetensors"), shapes, metadata);
    }

    /**
     * {@code W + scale * alpha / r * up[rows] @ down} in double, for each of the layer's weights: rows of {@code up}
     * in order, each weight taking its own row count; the swapped layer's weight takes up's second half then its
     * first.
     */
    private static void checkFormula(Layer l, Tensors t, Map<String, float[]> patched) {
        double factor = SCALE * (l.alpha() == null ? l.rank() : l.alpha()) / l.rank();
        int r = l.rank();
        int in = (int) t.in();
        int offset = 0;
        for (String w : l.modules()) {
            float[] before = base.get(w);
            int rows = before.length / in;
            float[] expected = before.clone();
            double maxDelta = 0;
            for (int o = 0; o < rows; o++) {
                int upRow = l.swapped() ? (o + rows / 2) % rows : offset + o;
                for (int j = 0; j < in; j++) {
                    double sum = 0;
                    for (int k = 0; k < r; k++) {
                        sum += (double) t.up()[upRow * r + k] * t.down()[k * in + j];
                    }
                    expected[o * in + j] = (float) (before[o * in + j] + factor * sum);
                    maxDelta = Math.max(maxDelta, Math.abs(factor * sum));
                }
            }
            assertTrue(maxDelta > 1e-2, w + ": the delta is material");
            float[] got = patched.get(w);
            for (int i = 0; i < expected.length; i++) {
                if (Math.abs(expected[i] - got[i]) > TOL) {
                    throw new AssertionError(l.kohya() + " -> " + w + " [" + i + "]: expected " + expected[i]
                            + ", got " + got[i]);
                }
            }
            offset += rows;
        }
        assertEquals(t.out(), offset, l.kohya() + ": up's rows are its weights' rows");
    }

    /** Random down and up for every layer, shaped by the model's weights. */
    private static Map<Layer, Tensors> tensors(Random rnd) {
        Map<Layer, Tensors> out = new LinkedHashMap<>();
        Map<String, Parameter> weights = targets().weights();
        for (Layer l : LAYERS) {
            long in = weights.get(l.modules().get(0)).shape().get(1);
            long rows = 0;
            for (String m : l.modules()) {
                Parameter p = weights.get(m);
                assertNotNull(p, m);
                assertEquals(in, p.shape().get(1), m);
                rows += p.shape().get(0);
            }
            out.put(l, new Tensors(gaussian(rnd, l.rank() * in, 0.3), gaussian(rnd, rows * l.rank(), 0.3), in,
                    rows));
        }
        return out;
    }

    /** kohya / sd-scripts: one layer per BFL module, fused ones whole. */
    private static Path writeKohya(Map<Layer, Tensors> layers, Path file) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        layers.forEach((l, v) -> {
            String name = l.kohyaPrefix() + l.kohya();
            t.put(name + ".lora_down.weight", TensorData.ofFloats(new long[] {l.rank(), v.in()}, v.down()));
            t.put(name + ".lora_up.weight", TensorData.ofFloats(new long[] {v.out(), l.rank()}, v.up()));
            if (l.alpha() != null) {
                t.put(name + ".alpha", TensorData.ofFloats(new long[] {}, new float[] {l.alpha()}));
            }
        });
        SafetensorsWriter.write(file, t);
        return file;
    }

    /**
     * diffusers / PEFT: one layer per diffusers module, a fused layer's {@code down} repeated and {@code up}'s rows
     * split (the swapped one's halves swapped), alpha repeated.
     */
    private static Path writePeft(Map<Layer, Tensors> layers, Path file) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        layers.forEach((l, v) -> {
            int r = l.rank();
            int offset = 0;
            for (String m : l.modules()) {
                int rows = (int) (base.get(m).length / v.in());
                float[] up = new float[rows * r];
                for (int o = 0; o < rows; o++) {
                    int upRow = l.swapped() ? (o + rows / 2) % rows : offset + o;
                    System.arraycopy(v.up(), upRow * r, up, o * r, r);
                }
                t.put(m + ".lora_A.weight", TensorData.ofFloats(new long[] {r, v.in()}, v.down()));
                t.put(m + ".lora_B.weight", TensorData.ofFloats(new long[] {rows, r}, up));
                if (l.alpha() != null) {
                    t.put(m + ".alpha", TensorData.ofFloats(new long[] {}, new float[] {l.alpha()}));
                }
                offset += rows;
            }
        });
        SafetensorsWriter.write(file, t);
        return file;
    }

    private static LoraTargets targets() {
        return pipe.architecture().loraTargets();
    }

    /** Every adaptable weight's values now. */
    private static Map<String, float[]> snapshot() {
        Map<String, float[]> out = new HashMap<>();
        targets().weights().forEach((name, p) -> out.put(name, p.get().toFloatArray()));
        return out;
    }

    private static GenerationRequest request(LoraFile lora, double scale) {
        return GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 2, 3.5, 7)
                .withLoras(List.of(new LoraSpec(lora.path().getFileName().toString(), lora, scale)));
    }

    /** The 64 x 64, 2-step image with {@code lora} (null: none). */
    private static float[] render(LoraSpec lora) {
        GenerationRequest r = GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 2, 3.5, 7)
                .withLoras(lora == null ? List.of() : List.of(lora));
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }

    private static float[] gaussian(Random rnd, long n, double std) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextGaussian() * std);
        }
        return v;
    }

    private static TensorData random(Random rnd, int rows, int cols) {
        return TensorData.ofFloats(DType.F32, new long[] {rows, cols}, gaussian(rnd, (long) rows * cols, 0.1));
    }
}
