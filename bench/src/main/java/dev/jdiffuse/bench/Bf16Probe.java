package dev.jdiffuse.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.norm.LayerNorm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

/**
 * Does bfloat16 compute work through DJL 0.35.1 when no bf16 array is ever copied to the host? One probe per JVM
 * (an abort in the native layer kills the process, so the caller runs each probe separately and records which
 * ones came back). Each prints one JSON line: the probe, ok, and the max |diff| against the same op in float32.
 *
 * <p>Probes: {@code control_fp16} (a float16 matrix product: the probe itself works), {@code cast} (fp32 on the device, cast to bf16 and back), {@code matmul}, {@code conv} (3x3 conv2d),
 * {@code layernorm}, {@code softmax}, {@code upload} (bf16 bytes from the host, as a bf16 safetensors tensor would
 * arrive, created directly as a bf16 array), {@code download} (a bf16 array read back as bytes).
 *
 * <p>usage: {@code Bf16Probe PROBE [cpu|gpu]}
 */
public final class Bf16Probe {

    private Bf16Probe() {
    }

    public static void main(String[] args) {
        String probe = args[0];
        Device device = args.length > 1 && args[1].equals("cpu") ? Device.cpu() : Device.gpu();
        try (NDManager m = NDManager.newBaseManager(device)) {
            NDArray a = m.randomNormal(new Shape(64, 256)).mul(0.1f);
            NDArray b = m.randomNormal(new Shape(256, 128)).mul(0.1f);
            NDArray ref;
            NDArray got;
            switch (probe) {
                case "cast" -> {
                    ref = a;
                    got = a.toType(DataType.BFLOAT16, false).toType(DataType.FLOAT32, false);
                }
                case "control_fp16" -> {
                    // the same matrix product in float16: shows the probe itself runs on this device
                    ref = a.matMul(b);
                    got = a.toType(DataType.FLOAT16, false).matMul(b.toType(DataType.FLOAT16, false))
                            .toType(DataType.FLOAT32, false);
                }
                case "matmul" -> {
                    ref = a.matMul(b);
                    got = a.toType(DataType.BFLOAT16, false).matMul(b.toType(DataType.BFLOAT16, false))
                            .toType(DataType.FLOAT32, false);
                }
                case "conv" -> {
                    NDArray x = m.randomNormal(new Shape(2, 32, 16, 16));
                    NDArray w = m.randomNormal(new Shape(64, 32, 3, 3)).mul(0.05f);
                    NDArray bias = m.zeros(new Shape(64));
                    ref = conv(x, w, bias);
                    got = conv(x.toType(DataType.BFLOAT16, false), w.toType(DataType.BFLOAT16, false),
                            bias.toType(DataType.BFLOAT16, false)).toType(DataType.FLOAT32, false);
                }
                case "layernorm" -> {
                    NDArray g = m.ones(new Shape(256));
                    NDArray z = m.zeros(new Shape(256));
                    ref = LayerNorm.layerNorm(a, new Shape(256), g, z, 1e-5f).singletonOrThrow();
                    got = LayerNorm.layerNorm(a.toType(DataType.BFLOAT16, false), new Shape(256),
                            g.toType(DataType.BFLOAT16, false), z.toType(DataType.BFLOAT16, false), 1e-5f)
                            .singletonOrThrow().toType(DataType.FLOAT32, false);
                }
                case "softmax" -> {
                    ref = a.softmax(-1);
                    got = a.toType(DataType.BFLOAT16, false).softmax(-1).toType(DataType.FLOAT32, false);
                }
                case "upload" -> {
                    // 1.5 and -2.0 in bfloat16 (the high halves of their float32 bits), little-endian
                    ByteBuffer buf = ByteBuffer.allocateDirect(4).order(ByteOrder.LITTLE_ENDIAN);
                    buf.putShort((short) 0x3FC0).putShort((short) 0xC000).flip();
                    NDArray raw = m.create(buf, new Shape(2), DataType.BFLOAT16);
                    got = raw.toType(DataType.FLOAT32, false);
                    ref = m.create(new float[] {1.5f, -2.0f});
                }
                case "download" -> {
                    NDArray h = a.toType(DataType.BFLOAT16, false);
                    ByteBuffer bytes = h.toByteBuffer();
                    ref = a;
                    got = a; // the probe is whether the bytes come back at all
                    System.out.printf(Locale.ROOT, "{\"probe\":\"download_bytes\",\"bytes\":%d}%n", bytes.remaining());
                }
                default -> throw new IllegalArgumentException("unknown probe " + probe);
            }
            float diff = got.sub(ref).abs().max().getFloat();
            float scale = ref.abs().max().getFloat();
            System.out.printf(Locale.ROOT, "{\"probe\":\"%s\",\"device\":\"%s\",\"ok\":true,\"max_abs_diff\":%.3g,"
                    + "\"max_abs_ref\":%.3g}%n", probe, device, diff, scale);
        } catch (RuntimeException e) {
            System.out.printf(Locale.ROOT, "{\"probe\":\"%s\",\"device\":\"%s\",\"ok\":false,\"error\":\"%s\"}%n",
                    probe, device, String.valueOf(e).replace('"', '\'').replace('\n', ' '));
        }
    }

    /** A 3x3 "same" convolution, stride 1 (PyTorch's conv2d through DJL's internal array API, as the models do). */
    private static NDArray conv(NDArray x, NDArray w, NDArray b) {
        return x.getNDArrayInternal().convolution(x, w, b, new Shape(1, 1), new Shape(1, 1), new Shape(1, 1), 1)
                .singletonOrThrow();
    }
}
