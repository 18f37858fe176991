package dev.jdiffuse.models.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.unet.LdmUnetKeys;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs against diffusers ({@code lora/<case>}, found by listing the folder): the case's LoRA on its base model at
 * the recorded scale reproduces {@code image} and at scale 0 {@code image_scale0}, within the pipeline tolerance
 * max|diff| <= 2e-3 of the fixtures README; the same tensors under PEFT names give the same image; switching sets
 * many times leaves the base weights bit-for-bit as loaded; keys that match nothing are refused, listed.
 */
class LoraParityTest {

    private static final double TOL = 2e-3;

    @TempDir
    Path tmp;

    @TestFactory
    List<DynamicTest> scaledAndOff() {
        return eachCase("", (c, pipe, lora) -> {
            double scale = LoraFixtures.meta(c).get("lora_scale").asDouble();
            compare(c, "image", render(pipe, request(c, lora, scale)));
            assertEquals(1, pipe.appliedLoras().size(), "the LoRA stays applied after the run");
            compare(c, "image_scale0", render(pipe, request(c, lora, 0)));
            assertTrue(pipe.appliedLoras().isEmpty(), "scale 0 takes it off");
        });
    }

    /**
     * The pipeline keeps recent prompts' text encodings; an encoding made under other text-encoder weights must not
     * be reused: base first (fills the cache), the LoRA (changes the text encoder: must encode again), base again
     * (may reuse the first encoding), each equal to its reference.
     */
    @TestFactory
    List<DynamicTest> cachedPromptEncodingsFollowTheLoraSet() {
        return eachCase(" prompt cache", (c, pipe, lora) -> {
            double scale = LoraFixtures.meta(c).get("lora_scale").asDouble();
            compare(c, "image_scale0", render(pipe, request(c, lora, 0)));
            compare(c, "image", render(pipe, request(c, lora, scale)));
            compare(c, "image_scale0", render(pipe, request(c, lora, 0)));
            compare(c, "image", render(pipe, request(c, lora, scale)));
        });
    }

    /** The kohya tensors renamed to diffusers/PEFT keys ({@code unet.<module>.lora_A.weight}, ...) match too. */
    @TestFactory
    List<DynamicTest> peftNames() {
        return eachCase(" peft", (c, pipe, kohya) -> {
            LoraTargets targets = pipe.architecture().loraTargets();
            Map<String, String> names = new HashMap<>();
            for (LoraModule m : kohya.modules()) {
                String path = targets.pathOf(m);
                names.put(m.downKey(), path + ".lora_A.weight");
                names.put(m.upKey(), path + ".lora_B.weight");
                names.put(m.alphaKey(), path + ".alpha");
            }
            LoraFile peft = LoraFile.read(LoraFixtures.rewrite(kohya.path(), tmp.resolve("peft.safetensors"),
                    names::get, Map.of()));
            assertEquals(LoraFormat.PEFT, peft.format());
            assertEquals(kohya.modules().size(), peft.modules().size());
            double scale = LoraFixtures.meta(c).get("lora_scale").asDouble();
            compare(c, "image", render(pipe, request(c, peft, scale)));
        });
    }

    /**
     * Many switches between sets (one LoRA, two at once, other scales, none), each re-merging from the kept base
     * arrays: the touched weights change while a set is on, and their checksum is the loaded one once it is off.
     */
    @TestFactory
    List<DynamicTest> restoresTheBaseExactly() {
        return eachCase(" restores the base exactly", (c, pipe, lora) -> {
            LoraFile copy = LoraFile.read(LoraFixtures.rewrite(lora.path(), tmp.resolve("copy.safetensors"), k -> k,
                    Map.of()));
            LoraTargets targets = pipe.architecture().loraTargets();
            List<Parameter> touched = lora.modules().stream().map(targets::weightOf).toList();
            long loaded = checksum(touched);
            // one cheap step per run: what is checked is the weights between runs, not the image
            GenerationRequest quick = GenerationRequest.of("a switch", "", 64, 64, 1, 1.0, 1).withSampler("euler",
                    null);
            List<List<LoraSpec>> sets = List.of(List.of(spec(lora, 0.7)),
                    List.of(spec(lora, 0.3), spec(copy, -0.5)), List.of(spec(copy, 1.0)), List.of(),
                    List.of(spec(lora, 0.7)), List.of(spec(lora, 0.7), spec(copy, 0.0)), List.of(spec(lora, 2.5)));
            int switches = 0;
            for (int round = 0; round < 2; round++) {
                for (List<LoraSpec> set : sets) {
                    render(pipe, quick.withLoras(set));
                    switches++;
                    long now = checksum(touched);
                    if (set.stream().allMatch(s -> s.scale() == 0)) {
                        assertEquals(loaded, now, "no LoRA on: the loaded weights");
                    } else {
                        assertNotEquals(loaded, now, "a LoRA on changes the weights it adapts");
                    }
                }
            }
            render(pipe, quick);
            assertTrue(pipe.appliedLoras().isEmpty());
            assertEquals(loaded, checksum(touched), "after " + switches + " switches the base weights are as loaded");
        });
    }

    /** A layer of a name the model does not have fails the check and the run, naming its keys. */
    @TestFactory
    List<DynamicTest> unmatchedKeysAreListed() {
        return eachCase(" unmatched keys", (c, pipe, lora) -> {
            Path file = LoraFixtures.rewrite(LoraFixtures.loraFile(c), tmp.resolve("extra.safetensors"), k -> k,
                    Map.of("lora_unet_no_such_block_proj.lora_down.weight", half(4, 8),
                            "lora_unet_no_such_block_proj.lora_up.weight", half(8, 4)));
            GenerationRequest r = request(c, LoraFile.read(file), 0.7);
            List<FieldError> errors = pipe.check(r);
            assertEquals(1, errors.size(), errors.toString());
            assertEquals("loras[0].name", errors.get(0).field());
            assertTrue(errors.get(0).message().contains("lora_unet_no_such_block_proj.lora_down.weight"),
                    errors.get(0).message());
            InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> render(pipe, r));
            assertTrue(e.getMessage().contains("no_such_block"), e.getMessage());

            Path odd = LoraFixtures.rewrite(LoraFixtures.loraFile(c), tmp.resolve("loha.safetensors"), k -> k,
                    Map.of("lora_unet_mid_block_attentions_0_proj_in.hada_w1_a", half(4, 8)));
            LoraException bad = assertThrows(LoraException.class, () -> LoraFile.read(odd));
            assertTrue(bad.getMessage().contains("lora_unet_mid_block_attentions_0_proj_in.hada_w1_a"),
                    bad.getMessage());
        });
    }

    /**
     * Kohya UNet names in the original LDM layout ({@code lora_unet_input_blocks_1_1_proj_in}, as SDXL LoRAs are
     * named) reach the same weights as the diffusers-style ones; the LDM names are made here from the model's own
     * LDM-to-diffusers key table, block by block.
     */
    @TestFactory
    List<DynamicTest> ldmStyleNames() {
        return eachCase(" LDM-style names", (c, pipe, lora) -> {
            LoraTargets targets = pipe.architecture().loraTargets();
            Map<String, String> ldmOfDiffusers = ldmBlockNames(
                    UNet2DConditionConfig.read(LoraFixtures.model(c).resolve("unet/config.json")));
            int renamed = 0;
            for (LoraModule m : lora.modules()) {
                if (!m.target().equals("unet")) {
                    continue;
                }
                String ldm = null;
                for (Map.Entry<String, String> e : ldmOfDiffusers.entrySet()) {
                    if (m.name().startsWith(e.getKey())) {
                        ldm = e.getValue() + m.name().substring(e.getKey().length());
                    }
                }
                if (ldm == null) {
                    continue;
                }
                LoraModule asLdm = new LoraModule("unet", ldm, false, m.downKey(), m.downShape(), m.upKey(),
                        m.upShape(), m.alphaKey());
                assertEquals(targets.pathOf(m), targets.pathOf(asLdm), ldm);
                renamed++;
            }
            assertTrue(renamed > 0, "some UNet layers have LDM names");
        });
    }

    /** What a check does with a case folder, its base model opened and its LoRA read. */
    private interface CaseCheck {
        void run(Path c, DiffusionPipeline pipe, LoraFile lora) throws Exception;
    }

    /** One test per {@code lora/<case>} folder, named by the case and {@code suffix}. */
    private static List<DynamicTest> eachCase(String suffix, CaseCheck check) {
        return Fixtures.eachCase("lora", suffix, c -> {
            try (DiffusionPipeline pipe = Pipelines.open(LoraFixtures.model(c), LoadOptions.cpu())) {
                check.run(c, pipe, LoraFile.read(LoraFixtures.loraFile(c)));
            }
        });
    }

    private static Map<String, String> ldmBlockNames(UNet2DConditionConfig config) {
        var table = LdmUnetKeys.table(config);
        Map<String, String> out = new HashMap<>();
        for (String block : List.of("input_blocks", "output_blocks")) {
            for (int i = 0; i < 16; i++) {
                for (int j = 0; j < 3; j++) {
                    add(out, table.apply("model.diffusion_model." + block + "." + i + "." + j + ".x"),
                            block + "_" + i + "_" + j + "_");
                }
            }
        }
        for (int i = 0; i < 3; i++) {
            add(out, table.apply("model.diffusion_model.middle_block." + i + ".x"), "middle_block_" + i + "_");
        }
        return out;
    }

    private static void add(Map<String, String> out, String diffusers, String ldmPrefix) {
        if (diffusers != null && !diffusers.startsWith("model.diffusion_model.") && diffusers.endsWith(".x")) {
            out.put(diffusers.substring(0, diffusers.length() - 1).replace('.', '_'), ldmPrefix);
        }
    }

    private static LoraSpec spec(LoraFile f, double scale) {
        return new LoraSpec(f.path().getFileName().toString(), f, scale);
    }

    private static GenerationRequest request(Path c, LoraFile lora, double scale) {
        JsonNode m = LoraFixtures.meta(c);
        return GenerationRequest.of(m.get("prompt").asText(), m.path("negative_prompt").asText(""),
                m.get("width").asInt(), m.get("height").asInt(), m.get("num_inference_steps").asInt(),
                m.get("guidance_scale").asDouble(), m.get("seed").asLong()).withLoras(List.of(spec(lora, scale)));
    }

    private static float[] render(DiffusionPipeline pipe, GenerationRequest r) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            return image.toFloatArray();
        }
    }

    private static void compare(Path c, String key, float[] image) {
        try (SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"))) {
            String name = Fixtures.displayName(c) + " " + key;
            double e = Close.assertMaxAbs(name, Close.toDouble(io.toFloatArray(key)), Close.toDouble(image), TOL);
            Close.report(String.format("%s %.3e", name, e));
        }
    }

    private static long checksum(List<Parameter> params) {
        CRC32 crc = new CRC32();
        for (Parameter p : params) {
            crc.update(p.get().toByteArray());
        }
        return crc.getValue();
    }

    private static TensorData half(int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.sin(i);
        }
        return TensorData.ofFloats(DType.F16, new long[] {rows, cols}, v);
    }
}
