package dev.jdiffuse.models.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.transformer.DiffusersWeights;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** A diffusers folder whose weights are split over two shards plus an index loads to the same model. */
class ShardedLoadTest {

    @Test
    void shardedFolderGivesTheSameOutput(@TempDir Path tmp) throws Exception {
        Path dir = Fixtures.require("dit");
        Files.copy(dir.resolve("config.json"), tmp.resolve("config.json"));
        ObjectNode index = new ObjectMapper().createObjectNode();
        index.putObject("metadata");
        ObjectNode map = index.putObject("weight_map");
        try (SafetensorsFile whole = SafetensorsFile.open(dir.resolve(DiffusersWeights.SINGLE))) {
            List<String> names = List.copyOf(whole.names());
            for (int part = 0; part < 2; part++) {
                String file = String.format("diffusion_pytorch_model-%05d-of-00002.safetensors", part + 1);
                Map<String, TensorData> shard = new LinkedHashMap<>();
                for (int i = part; i < names.size(); i += 2) {
                    String n = names.get(i);
                    ByteBuffer src = whole.buffer(n);
                    byte[] bytes = new byte[src.remaining()];
                    src.duplicate().get(bytes);
                    shard.put(n, TensorData.of(whole.info(n).dtype(), whole.info(n).shape(), bytes));
                    map.put(n, file);
                }
                SafetensorsWriter.write(tmp.resolve(file), shard);
            }
        }
        Files.writeString(tmp.resolve(DiffusersWeights.INDEX), index.toString());
        try (NDManager w = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            DiTTransformer2DModel model = DiTTransformer2DModel.load(tmp, w, DataType.FLOAT32);
            NDArray x = act.create(io.toFloatArray("hidden_states"), new Shape(io.info("hidden_states").shape()));
            NDArray out = model.forward(x, io.toDoubleArray("timestep"), io.toLongArray("class_labels"));
            assertArrayEquals(io.info("out").shape(), out.getShape().getShape());
            Close.assertMaxAbsRelative("dit from shards", Close.toDouble(io.toFloatArray("out")),
                    Close.toDouble(out.toFloatArray()), 1e-3);
        }
    }
}
