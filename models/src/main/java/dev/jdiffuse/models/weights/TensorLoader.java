package dev.jdiffuse.models.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsException;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Set;

/**
 * Turns tensors of a {@link TensorSource} into DJL {@link NDArray}s on a manager's device, without decoding through
 * Java arrays where the engine can take the stored dtype.
 *
 * <p>How: {@code manager.create(ByteBuffer, Shape, DataType)} with a direct buffer makes the PyTorch engine wrap the
 * memory without copying ({@code torch::from_blob}) on CPU, or copy it to the GPU. A mapped slice is a direct buffer,
 * so F32/F16/F64/I64/I32/I8/U8/BOOL bytes are wrapped in place as a read-only alias; {@code duplicate()} (same
 * dtype; DJL's {@code toType} would hand back a second handle on the mapped memory) or {@code toType(target)} (a
 * conversion such as F16 to F32, done by the engine on the device) then makes the one copy into engine-owned memory,
 * and the alias is closed at once. The alias is never written (the file is mapped read-only; a write would fault),
 * and the result shares nothing with the file: one copy per tensor, no Java heap, no lasting Java direct memory.
 *
 * <p>DJL 0.35.1's PyTorch engine aborts the whole JVM ({@code terminate called without an active exception}) on any
 * bfloat16 or int16 array (create or {@code toType}; measured). So BF16 and I16 tensors are widened in Java to F32
 * (exact: the BF16 bits shifted left by 16) and I32 in a temporary direct buffer, FP8 tensors are decoded to F32, and
 * the targets {@link #UNSUPPORTED_TARGETS} are refused with an {@link IllegalArgumentException}.
 */
public final class TensorLoader {

    /** Target types the engine cannot hold without crashing the JVM (or that have no numeric meaning here). */
    public static final Set<DataType> UNSUPPORTED_TARGETS = Set.of(DataType.BFLOAT16, DataType.INT16,
            DataType.UINT16, DataType.UINT32, DataType.UINT64, DataType.COMPLEX64, DataType.STRING,
            DataType.UNKNOWN);

    private TensorLoader() {
    }

    /** Loads {@code name} as {@link #naturalType(DType)} of its stored dtype. */
    public static NDArray load(TensorSource source, String name, NDManager manager) {
        return load(source, name, manager, naturalType(source.info(name).dtype()));
    }

    /**
     * Loads {@code name} onto {@code manager}'s device as {@code target} (e.g. FLOAT32 or FLOAT16), with the header's
     * shape. The result belongs to {@code manager} and owns its memory.
     */
    public static NDArray load(TensorSource source, String name, NDManager manager, DataType target) {
        if (UNSUPPORTED_TARGETS.contains(target)) {
            throw new IllegalArgumentException("cannot load '" + name + "' as " + target
                    + ": DJL's PyTorch engine does not support it (bfloat16/int16 arrays abort the JVM)");
        }
        TensorInfo info = source.info(name);
        Shape shape = new Shape(info.shape());
        if (info.numel() == 0) {
            return manager.zeros(shape, target);
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new SafetensorsException(source.description() + ": tensor '" + name
                    + "': loading little-endian data on a big-endian platform is not supported");
        }
        DataType engineType = naturalType(info.dtype());
        ByteBuffer bytes = engineBytes(source, info);
        try (NDArray staged = manager.create(bytes, shape, engineType)) {
            return engineType.equals(target) ? staged.duplicate() : staged.toType(target, false);
        }
    }

    /**
     * The DJL type a stored dtype loads as by default: the same type where the engine supports it, FLOAT32 for BF16
     * and FP8, INT32 for I16.
     */
    public static DataType naturalType(DType dtype) {
        return switch (dtype) {
            case F64 -> DataType.FLOAT64;
            case F32, BF16, F8_E4M3, F8_E5M2 -> DataType.FLOAT32;
            case F16 -> DataType.FLOAT16;
            case I64 -> DataType.INT64;
            case I32, I16 -> DataType.INT32;
            case I8 -> DataType.INT8;
            case U8 -> DataType.UINT8;
            case BOOL -> DataType.BOOLEAN;
        };
    }

    /** The mapped bytes where the engine takes them as stored (copied if misaligned), else a widened copy. */
    private static ByteBuffer engineBytes(TensorSource source, TensorInfo info) {
        String name = info.name();
        int n = Math.toIntExact(info.numel());
        switch (info.dtype()) {
            case BF16 -> {
                ByteBuffer in = source.buffer(name);
                ByteBuffer out = direct(4L * n);
                for (int i = 0; i < n; i++) {
                    out.putInt(4 * i, (in.getShort(2 * i) & 0xffff) << 16);
                }
                return out;
            }
            case I16 -> {
                ByteBuffer in = source.buffer(name);
                ByteBuffer out = direct(4L * n);
                for (int i = 0; i < n; i++) {
                    out.putInt(4 * i, in.getShort(2 * i));
                }
                return out;
            }
            case F8_E4M3, F8_E5M2 -> {
                ByteBuffer out = direct(4L * n);
                out.asFloatBuffer().put(source.toFloatArray(name));
                return out;
            }
            default -> {
                ByteBuffer mapped = source.buffer(name);
                if (mapped.alignmentOffset(0, info.dtype().byteSize()) == 0) {
                    return mapped;
                }
                return direct(mapped.remaining()).put(mapped).flip();
            }
        }
    }

    private static ByteBuffer direct(long bytes) {
        return ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
    }
}
