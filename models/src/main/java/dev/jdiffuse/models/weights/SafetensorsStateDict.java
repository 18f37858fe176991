package dev.jdiffuse.models.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.safetensors.TensorSource;
import dev.jdiffuse.safetensors.quant.QuantizedCheckpoints;

import java.nio.file.Path;
import java.util.Set;

/**
 * A {@link StateDict} over safetensors storage (one file or a sharded index). Values go through {@link TensorLoader}:
 * stored bytes straight into engine memory, converted to the target dtype by PyTorch on the target device.
 */
public final class SafetensorsStateDict implements StateDict, AutoCloseable {

    private final TensorSource source;

    public SafetensorsStateDict(TensorSource source) {
        this.source = source;
    }

    /**
     * Opens a {@code .safetensors} file or a sharded {@code *.safetensors.index.json}. Quantized checkpoints (ComfyUI's
     * scaled / mixed-precision FP8, bitsandbytes NF4 / FP4) are seen with their weights dequantized and their helper
     * tensors hidden ({@link QuantizedCheckpoints}); any other file is read as stored.
     */
    public static SafetensorsStateDict open(Path file) {
        return new SafetensorsStateDict(QuantizedCheckpoints.dequantizing(TensorSource.open(file)));
    }

    public TensorSource source() {
        return source;
    }

    @Override
    public Set<String> keys() {
        return source.names();
    }

    @Override
    public long[] shape(String key) {
        return source.info(key).shape();
    }

    @Override
    public NDArray load(String key, NDManager manager, DataType dtype) {
        return TensorLoader.load(source, key, manager, dtype);
    }

    @Override
    public void close() {
        source.close();
    }
}
