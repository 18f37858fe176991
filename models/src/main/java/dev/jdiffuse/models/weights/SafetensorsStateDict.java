package dev.jdiffuse.models.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Set;

/**
 * A {@link StateDict} over safetensors storage. Float tensors travel as their stored bytes (one copy from the mapped
 * file into a direct buffer) and are converted to the target dtype by PyTorch on the target device.
 */
public final class SafetensorsStateDict implements StateDict, AutoCloseable {

    private final TensorSource source;

    public SafetensorsStateDict(TensorSource source) {
        this.source = source;
    }

    public static SafetensorsStateDict open(Path file) {
        return new SafetensorsStateDict(SafetensorsFile.open(file));
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
        TensorInfo info = source.info(key);
        Shape shape = new Shape(info.shape());
        DataType stored = djlType(info.dtype());
        NDArray raw;
        if (stored != null) {
            ByteBuffer src = source.buffer(key);
            ByteBuffer direct = ByteBuffer.allocateDirect(src.remaining()).order(ByteOrder.nativeOrder());
            if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                throw new UnsupportedOperationException("big-endian hosts are not supported");
            }
            direct.put(src.duplicate()).flip();
            raw = manager.create(direct, shape, stored);
        } else {
            raw = manager.create(source.toFloatArray(key), shape);
        }
        if (raw.getDataType() == dtype) {
            return raw;
        }
        NDArray converted = raw.toType(dtype, false);
        raw.close();
        return converted;
    }

    private static DataType djlType(DType t) {
        switch (t) {
            case F32:
                return DataType.FLOAT32;
            case F16:
                return DataType.FLOAT16;
            case BF16:
                return DataType.BFLOAT16;
            default:
                return null;
        }
    }

    @Override
    public void close() {
        source.close();
    }
}
