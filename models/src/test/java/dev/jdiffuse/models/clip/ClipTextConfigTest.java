package dev.jdiffuse.models.clip;

import dev.jdiffuse.models.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClipTextConfigTest {

    @TempDir
    Path dir;

    private ClipTextConfig read(String json) throws IOException {
        return ClipTextConfig.read(Files.writeString(dir.resolve("config.json"), json));
    }

    @Test
    void transformersDefaultsForAbsentFields() throws IOException {
        ClipTextConfig c = read("{}");
        assertEquals(512, c.hiddenSize());
        assertEquals(12, c.numHiddenLayers());
        assertEquals("quick_gelu", c.hiddenAct());
        assertEquals(49407, c.eosTokenId());
        assertFalse(c.withProjection());
    }

    @Test
    void projectionVariantFromArchitectures() throws IOException {
        ClipTextConfig c = read("{\"architectures\": [\"CLIPTextModelWithProjection\"], \"projection_dim\": 1280,"
                + " \"hidden_act\": \"gelu\"}");
        assertTrue(c.withProjection());
        assertEquals(1280, c.projectionDim());
    }

    @Test
    void unsupportedValuesNameTheField() {
        ConfigException act = assertThrows(ConfigException.class, () -> read("{\"hidden_act\": \"mish\"}"));
        assertTrue(act.getMessage().contains("hidden_act"), act.getMessage());
        ConfigException arch = assertThrows(ConfigException.class,
                () -> read("{\"architectures\": [\"CLIPModel\"]}"));
        assertTrue(arch.getMessage().contains("architectures"), arch.getMessage());
        ConfigException heads = assertThrows(ConfigException.class,
                () -> read("{\"hidden_size\": 30, \"num_attention_heads\": 4}"));
        assertTrue(heads.getMessage().contains("num_attention_heads"), heads.getMessage());
    }
}
