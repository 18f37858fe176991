package dev.jdiffuse.models.textinv;

import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each file layout A1111 and diffusers write, and the refusals, each naming the file. */
class TextualInversionFileTest {

    @TempDir
    Path tmp;

    static float[] ramp(int n, float start) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = start + i * 0.25f;
        }
        return v;
    }

    private Path write(String file, Map<String, TensorData> tensors) {
        Path p = tmp.resolve(file);
        SafetensorsWriter.write(p, tensors);
        return p;
    }

    @Test
    void a1111EmbParams() {
        Path p = write("EasyNegative.safetensors", Map.of("emb_params", TensorData.ofFloats(new long[] {2, 3},
                ramp(6, 1))));
        TextualInversion e = TextualInversionFile.read(p);
        assertEquals("EasyNegative", e.name());
        assertEquals(2, e.vectors());
        assertEquals(List.of(3), e.widths());
        assertArrayEquals(new float[] {1.75f, 2f, 2.25f}, e.forWidth(3)[1]);
        assertEquals(12, e.hash().length());
    }

    @Test
    void stringToParamStar() {
        TextualInversion a = TextualInversionFile.read(write("a.safetensors",
                Map.of("*", TensorData.ofFloats(new long[] {1, 4}, ramp(4, 0)))));
        TextualInversion b = TextualInversionFile.read(write("b.safetensors",
                Map.of("string_to_param.*", TensorData.ofFloats(new long[] {1, 4}, ramp(4, 0)))));
        assertArrayEquals(ramp(4, 0), a.forWidth(4)[0]);
        assertArrayEquals(ramp(4, 0), b.forWidth(4)[0]);
    }

    @Test
    void diffusersLearnedEmbedsOneVector() {
        TextualInversion e = TextualInversionFile.read(write("learned_embeds.safetensors",
                Map.of("<cat-toy>", TensorData.ofFloats(new long[] {5}, ramp(5, -1)))));
        assertEquals(1, e.vectors());
        assertArrayEquals(ramp(5, -1), e.forWidth(5)[0]);
    }

    @Test
    void sdxlClipLAndClipG() {
        TextualInversion e = TextualInversionFile.read(write("negativeXL.safetensors", Map.of(
                "clip_l", TensorData.ofFloats(new long[] {2, 3}, ramp(6, 0)),
                "clip_g", TensorData.ofFloats(new long[] {2, 5}, ramp(10, 100)))));
        assertEquals(List.of(3, 5), e.widths());
        assertArrayEquals(ramp(5, 100), e.forWidth(5)[0]);
        assertArrayEquals(new float[] {0.75f, 1f, 1.25f}, e.forWidth(3)[1]);
        TextualInversionException wrong = assertThrows(TextualInversionException.class, () -> e.forWidth(4));
        assertTrue(wrong.getMessage().contains("negativeXL"), wrong.getMessage());
    }

    @Test
    void refusesPickles() throws Exception {
        Path pt = Files.write(tmp.resolve("badhandv4.pt"), new byte[] {(byte) 0x80, 2});
        TextualInversionException e = assertThrows(TextualInversionException.class, () -> TextualInversionFile.read(pt));
        assertTrue(e.getMessage().contains("badhandv4.pt") && e.getMessage().contains("pickle"), e.getMessage());
    }

    @Test
    void refusesUnknownLayouts() {
        Path p = write("lora_like.safetensors", Map.of(
                "lora_te_x.lora_down.weight", TensorData.ofFloats(new long[] {1, 2}, ramp(2, 0)),
                "lora_te_x.lora_up.weight", TensorData.ofFloats(new long[] {2, 1}, ramp(2, 0))));
        TextualInversionException e = assertThrows(TextualInversionException.class, () -> TextualInversionFile.read(p));
        assertTrue(e.getMessage().contains("lora_like.safetensors") && e.getMessage().contains("lora_te_x"),
                e.getMessage());
        Path cube = write("cube.safetensors", Map.of("emb_params", TensorData.ofFloats(new long[] {1, 2, 2},
                ramp(4, 0))));
        TextualInversionException c = assertThrows(TextualInversionException.class,
                () -> TextualInversionFile.read(cube));
        assertTrue(c.getMessage().contains("cube.safetensors"), c.getMessage());
    }

    @Test
    void hashFollowsTheContent() {
        Path p = write("x.safetensors", Map.of("emb_params", TensorData.ofFloats(new long[] {1, 2}, ramp(2, 0))));
        String first = TextualInversionFile.read(p).hash();
        write("x.safetensors", Map.of("emb_params", TensorData.ofFloats(new long[] {1, 2}, ramp(2, 1))));
        assertNotEquals(first, TextualInversionFile.read(p).hash());
    }
}
