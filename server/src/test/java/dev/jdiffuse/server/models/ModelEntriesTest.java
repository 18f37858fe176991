package dev.jdiffuse.server.models;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What a models folder lists as models: the single files and pipeline folders, not what lies beside a single file for
 * it (its {@code X.config/} and {@code X.tokenizer/} folders, the {@code text_encoders/} folder an SD 3.5
 * {@code sd3.5_large.safetensors} takes its CLIP and T5 encoders from), the TAESD folder or hidden entries.
 */
class ModelEntriesTest {

    @Test
    void helperFoldersBesideSingleFilesAreNotModels(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("sd3.5_large.safetensors"), new byte[] {1});
        Files.createDirectories(dir.resolve("text_encoders"));
        Files.write(dir.resolve("text_encoders/clip_l.safetensors"), new byte[] {1});
        Files.createDirectories(dir.resolve("sd3.5_large.config/vae"));
        Files.createDirectories(dir.resolve("sd3.5_large.tokenizer"));
        Files.createDirectories(dir.resolve("taesd"));
        Files.createDirectories(dir.resolve(".cache"));
        Files.createDirectories(dir.resolve("sd15"));
        assertEquals(List.of(dir.resolve("sd15"), dir.resolve("sd3.5_large.safetensors")), ModelEntries.list(dir));
    }
}
