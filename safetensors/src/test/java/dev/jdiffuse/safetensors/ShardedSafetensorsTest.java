package dev.jdiffuse.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShardedSafetensorsTest {

    @TempDir
    Path dir;

    private Path index;

    private void writeTwoShards(String weightMap) throws IOException {
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), Map.of(
                "w1", TensorData.ofFloats(new long[] {2}, new float[] {1, 2})));
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), Map.of(
                "w2", TensorData.ofLongs(new long[] {1, 3}, new long[] {4, 5, 6})));
        index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"metadata\": {\"total_size\": 32, \"format\": \"pt\"}, \"weight_map\": {"
                + weightMap + "}}");
    }

    @Test
    void oneViewOverAllShards() throws IOException {
        writeTwoShards("\"w2\": \"model-00002-of-00002.safetensors\", \"w1\": \"model-00001-of-00002.safetensors\"");
        ShardedSafetensors held;
        try (TensorSource src = TensorSource.open(index)) {
            ShardedSafetensors sharded = assertInstanceOf(ShardedSafetensors.class, src);
            held = sharded;
            assertEquals(List.of("w2", "w1"), List.copyOf(src.names()));
            assertEquals(Map.of("total_size", "32", "format", "pt"), src.metadata());
            assertArrayEquals(new float[] {1, 2}, src.toFloatArray("w1"));
            assertArrayEquals(new long[] {4, 5, 6}, src.toLongArray("w2"));
            assertArrayEquals(new long[] {1, 3}, src.info("w2").shape());
            assertEquals(8, src.buffer("w1").remaining());
            assertEquals(2, sharded.shards().size());
            assertTrue(sharded.shardOf("w1").path().endsWith("model-00001-of-00002.safetensors"));
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> src.info("w3"));
            assertTrue(e.getMessage().contains(index.toString()) && e.getMessage().contains("'w3'"), e.getMessage());
        }
        assertThrows(IllegalStateException.class, () -> held.info("w1"));
        assertThrows(IllegalStateException.class, () -> held.shards().get(0).info("w1"), "shards closed too");
    }

    @Test
    void missingShardFile() throws IOException {
        writeTwoShards("\"w1\": \"model-00001-of-00002.safetensors\", \"w3\": \"model-00003-of-00003.safetensors\"");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(index));
        assertTrue(e.getMessage().contains(index.toString()) && e.getMessage().contains("does not exist")
                && e.getMessage().contains("model-00003-of-00003.safetensors"), e.getMessage());
    }

    @Test
    void nameMappedToAShardThatLacksIt() throws IOException {
        writeTwoShards("\"w1\": \"model-00002-of-00002.safetensors\"");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(index));
        assertTrue(e.getMessage().contains(index.toString())
                && e.getMessage().contains("'w1' is mapped to model-00002-of-00002.safetensors, which does not contain it"),
                e.getMessage());
    }

    @Test
    void shardOutsideTheIndexFolderIsRefused() throws IOException {
        writeTwoShards("\"w1\": \"../elsewhere.safetensors\"");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(index));
        assertTrue(e.getMessage().contains("outside the index folder"), e.getMessage());
    }

    @Test
    void indexWithoutWeightMap() throws IOException {
        index = dir.resolve("bad.safetensors.index.json");
        Files.writeString(index, "{\"metadata\": {}}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ShardedSafetensors.open(index));
        assertTrue(e.getMessage().contains(index.toString()) && e.getMessage().contains("weight_map"), e.getMessage());
    }

    @Test
    void openDispatchesSingleFiles() throws IOException {
        Path single = dir.resolve("one.safetensors");
        SafetensorsWriter.write(single, Map.of("x", TensorData.ofInts(new long[] {2}, new int[] {3, 4})));
        try (TensorSource src = TensorSource.open(single)) {
            assertInstanceOf(SafetensorsFile.class, src);
            assertArrayEquals(new int[] {3, 4}, src.toIntArray("x"));
        }
    }
}
