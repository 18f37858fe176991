package dev.jdiffuse.models.pipeline.sd;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.checkpoint.CheckpointFamily;
import dev.jdiffuse.models.checkpoint.DetectedCheckpoint;
import dev.jdiffuse.models.checkpoint.TextEncoderSource;
import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTokenizer;
import dev.jdiffuse.models.pipeline.ConfigFolder;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.SingleFileTokenizers;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The configs, tokenizers and scheduler of a single-file checkpoint: each from the config folder where it holds that
 * component ({@code unet/config.json}, {@code tokenizer_2/}, ...), else detected / conventional:
 * <ul>
 *   <li>tokenizers: CLIP's vocabulary bundled in the jar when the encoder has its 49,408 tokens, padded with
 *       {@code <|endoftext|>} for OpenAI CLIP (SD 1.x, SDXL's first) and {@code !} for OpenCLIP (SD 2.x, SDXL's
 *       second), as the released tokenizer configs say; an encoder with another vocabulary (test models) needs its
 *       tokenizer folder beside the file ({@code <name>.tokenizer/}, {@code <name>.tokenizer_2/}, or
 *       {@code tokenizer/});</li>
 *   <li>scheduler: DPM-Solver++ 2M with Karras sigmas on SD's betas (what A1111 and ComfyUI users mostly pick; any
 *       sampler can be requested) with the detected prediction type.</li>
 * </ul>
 */
final class SingleFileParts {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DEFAULT_SCHEDULER = "/dev/jdiffuse/models/checkpoint/default_scheduler_config.json";

    private final Path checkpoint;
    private final Path config;
    private final ConfigFolder folder;
    private final DetectedCheckpoint detected;

    SingleFileParts(Path checkpoint, Path config, DetectedCheckpoint detected) {
        this.checkpoint = checkpoint;
        this.config = config;
        this.folder = new ConfigFolder(config);
        this.detected = detected;
    }

    UNet2DConditionConfig unetConfig() {
        Path f = folder.file("unet/config.json");
        return f != null ? UNet2DConditionConfig.read(f) : detected.unet();
    }

    AutoencoderKLConfig vaeConfig() {
        Path f = folder.file("vae/config.json");
        return f != null ? AutoencoderKLConfig.read(f) : detected.vae();
    }

    /** @param n 1 for {@code text_encoder}, 2 for {@code text_encoder_2} */
    ClipTextConfig textEncoderConfig(int n) {
        Path f = folder.file(ConfigFolder.component("text_encoder", n) + "/config.json");
        return f != null ? ClipTextConfig.read(f) : source(n).detected();
    }

    /** @param n 1 for {@code tokenizer}, 2 for {@code tokenizer_2} ({@link SingleFileTokenizers} says from where) */
    ClipTokenizer tokenizer(int n) {
        return SingleFileTokenizers.clip(checkpoint, config, n, n == 2 || detected.family() == CheckpointFamily.SD2, source(n).vocabSize(),
                source(n).prefix());
    }

    /**
     * The config folder's scheduler, else the default; a given {@code predictionOverride} replaces the config's
     * prediction type, and the default takes the detected one.
     */
    SchedulerSelection scheduler(String predictionOverride) {
        Path f = folder.file("scheduler/scheduler_config.json");
        Map<String, Object> raw;
        try (InputStream in = f != null ? Files.newInputStream(f)
                : SingleFileParts.class.getResourceAsStream(DEFAULT_SCHEDULER)) {
            raw = new HashMap<>(JSON.readValue(in, new TypeReference<Map<String, Object>>() { }));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + (f != null ? f : DEFAULT_SCHEDULER), e);
        }
        if (f == null || predictionOverride != null) {
            raw.put("prediction_type", f == null ? detected.predictionType() : predictionOverride);
        }
        return new SchedulerSelection(raw, null);
    }

    private TextEncoderSource source(int n) {
        return n == 1 ? detected.textEncoder() : detected.textEncoder2();
    }
}
