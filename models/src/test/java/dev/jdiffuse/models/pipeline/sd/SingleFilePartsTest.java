package dev.jdiffuse.models.pipeline.sd;

import dev.jdiffuse.models.checkpoint.CheckpointDetector;
import dev.jdiffuse.models.checkpoint.DetectedCheckpoint;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The prediction type of a single file: detected (SD 2.x: v-prediction), taken from a config folder that holds only a
 * scheduler config (how a user marks an SD 2.x 512-base file as epsilon in the models folder), and an explicit
 * override winning over both; the other components stay detected when the folder lacks them.
 */
class SingleFilePartsTest {

    @Test
    void predictionTypeDetectedThenConfigFolderThenOverride(@TempDir Path tmp) throws Exception {
        Path file = Fixtures.require("single_file/sd2v").resolve("sd2v.safetensors");
        DetectedCheckpoint d;
        try (SafetensorsStateDict sd = SafetensorsStateDict.open(file)) {
            d = CheckpointDetector.detect(sd, file.toString(), null);
        }
        assertEquals("v_prediction", new SingleFileParts(file, null, d).scheduler(null).base().predictionType());

        Path config = Files.createDirectories(tmp.resolve("sd2v.config/scheduler"));
        Files.writeString(config.resolve("scheduler_config.json"), "{\"_class_name\": \"DDIMScheduler\", "
                + "\"prediction_type\": \"epsilon\", \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, "
                + "\"beta_end\": 0.012}");
        SingleFileParts parts = new SingleFileParts(file, tmp.resolve("sd2v.config"), d);
        assertEquals("epsilon", parts.scheduler(null).base().predictionType());
        assertEquals("v_prediction", parts.scheduler("v_prediction").base().predictionType());
        assertEquals(d.unet(), parts.unetConfig(), "no unet/config.json in the folder: detected");
        assertEquals(d.vae(), parts.vaeConfig());
    }
}
