package dev.jdiffuse.models.checkpoint;

import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * For every {@code single_file/<case>}: the family and configs detected from the file's keys and shapes alone equal
 * the configs of its {@code <case>.config/} folder (the diffusers layout it was converted from), record component by
 * record component. The components that no shape carries take the released models' conventions, which the tiny
 * fixtures do not follow; each is named below with the reason, and checked against the convention instead:
 * <ul>
 *   <li>UNet {@code attention_head_dim} (heads per level) for SD 2.x / SDXL: released configs have 64-wide heads
 *       ([5, 10, 20, 20], [5, 10, 20]); the fixtures use [2, 4, 8(, 8)] heads on 16/32 channels, which no shape shows.
 *       SD 1.x uses 8 heads per level in both;</li>
 *   <li>{@code norm_num_groups}: 32 in every release, 8 in the fixtures (GroupNorm weights are per channel);</li>
 *   <li>{@code sample_size}: the family's training resolution (512 / 768 / 1024 px) in releases, 128 px here;</li>
 *   <li>CLIP {@code num_attention_heads}: 64-wide heads in every release, 8- and 4-wide here.</li>
 * </ul>
 * The VAE scaling factor (0.18215, SDXL 0.13025) and SD 2.x v-prediction are conventions the fixtures do follow, so
 * they are compared like the rest.
 */
class SingleFileDetectionTest {

    private static final String HEADS = "heads: shapes do not carry them; 64-wide by convention";
    private static final String GROUPS = "GroupNorm groups: not in any shape; 32 by convention";
    private static final String SAMPLE = "sample_size: the family's training resolution by convention";

    @TestFactory
    List<DynamicTest> detectedConfigsEqualTheConfigFolder() {
        return Fixtures.eachCase("single_file", SingleFileDetectionTest::check);
    }

    private static void check(Path c) throws Exception {
        String name = c.getFileName().toString();
        Path cfg = c.resolve(name + ".config");
        DetectedCheckpoint d;
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(c.resolve(name + ".safetensors"))) {
            d = CheckpointDetector.detect(sd, name, null);
        }
        boolean xl = Files.isDirectory(cfg.resolve("text_encoder_2"));
        UNet2DConditionConfig unet = UNet2DConditionConfig.read(cfg.resolve("unet/config.json"));
        CheckpointFamily family = xl ? CheckpointFamily.SDXL
                : unet.useLinearProjection() ? CheckpointFamily.SD2 : CheckpointFamily.SD1;
        assertEquals(family, d.family(), name + " family");

        boolean sd1 = family == CheckpointFamily.SD1;
        assertRecordEquals(name + " unet", unet, d.unet(), sd1
                ? Map.of("normNumGroups", GROUPS, "sampleSize", SAMPLE)
                : Map.of("attentionHeadDim", HEADS, "attentionHeads", HEADS, "normNumGroups", GROUPS,
                        "sampleSize", SAMPLE));
        for (int level = 0; level < d.unet().levels(); level++) {
            int ch = d.unet().blockOutChannels().get(level);
            assertEquals(sd1 ? 8 : ch % 64 == 0 ? ch / 64 : 1, d.unet().attentionHeads().get(level),
                    name + " heads at level " + level);
        }
        assertEquals(Widths.groupsFor(d.unet().blockOutChannels()), d.unet().normNumGroups());
        assertEquals(xl ? 128 : family == CheckpointFamily.SD2 ? 96 : 64, d.unet().sampleSize(), name);

        assertRecordEquals(name + " vae", AutoencoderKLConfig.read(cfg.resolve("vae/config.json")), d.vae(),
                Map.of("normNumGroups", GROUPS, "sampleSize", SAMPLE));
        assertEquals(xl ? 0.13025 : 0.18215, d.vae().scalingFactor(), name + " scaling factor");

        checkClip(name + " text_encoder", cfg.resolve("text_encoder/config.json"), d.textEncoder());
        if (xl) {
            checkClip(name + " text_encoder_2", cfg.resolve("text_encoder_2/config.json"), d.textEncoder2());
            assertTrue(d.textEncoder2().openClip(), "SDXL's second encoder is OpenCLIP");
        }
        String scheduler = Files.readString(cfg.resolve("scheduler/scheduler_config.json"));
        assertTrue(scheduler.contains("\"prediction_type\": \"" + d.predictionType() + "\""),
                name + ": detected " + d.predictionType() + " (" + d.predictionReason() + ")");
    }

    private static void checkClip(String what, Path config, TextEncoderSource detected) throws Exception {
        ClipTextConfig expected = ClipTextConfig.read(config);
        assertRecordEquals(what, expected, detected.detected(), Map.of("numAttentionHeads", HEADS));
        int width = detected.detected().hiddenSize();
        assertEquals(width % 64 == 0 ? width / 64 : 1, detected.detected().numAttentionHeads(), what);
    }

    /** Every record component equal, except those in {@code conventions} (component name to why it may differ). */
    static void assertRecordEquals(String what, Record expected, Record actual, Map<String, String> conventions)
            throws Exception {
        assertEquals(expected.getClass(), actual.getClass());
        List<String> diffs = new ArrayList<>();
        for (RecordComponent rc : expected.getClass().getRecordComponents()) {
            Object e = rc.getAccessor().invoke(expected);
            Object a = rc.getAccessor().invoke(actual);
            if (!Objects.equals(e, a) && !conventions.containsKey(rc.getName())) {
                diffs.add(rc.getName() + ": config folder " + e + ", detected " + a);
            }
        }
        assertTrue(diffs.isEmpty(), what + ": " + String.join("; ", diffs));
    }
}
