package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.JniUtils;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * PyTorch's fused kernels that DJL's JNI does not bind: {@code scaled_dot_product_attention} (flash / memory-efficient
 * attention), {@code group_norm}, {@code group_norm} followed by {@code silu}, and GEGLU. Each is a one-line TorchScript
 * function whose archive this class writes itself (the source text below, a 3-entry pickle, no weights) and loads
 * through DJL's TorchScript loader once per process. One call replaces 3 to 8 separate ops, each of which costs
 * tens of microseconds of host time through the JNI, and the attention kernel never materialises the score matrix.
 *
 * <p>Where the archive cannot be loaded (or {@code -Djdiffuse.fused=false}), {@link #available()} is false and the
 * callers use their composite implementations; both paths are covered by the parity tests.
 */
public final class FusedOps {

    private static final String HEADER = "  __parameters__ = []\n  __buffers__ = []\n  training : bool\n";

    private static volatile Modules modules;
    private static volatile boolean tried;

    /** The loaded kernels; a null entry is one that failed to load (its callers use their composite ops). */
    private record Modules(PtSymbolBlock sdpa, PtSymbolBlock sdpaMask, PtSymbolBlock groupNorm,
            PtSymbolBlock groupNormSilu, PtSymbolBlock geglu, PtSymbolBlock geluTanh, PtSymbolBlock modulate,
            PtSymbolBlock gatedAdd, PtSymbolBlock hostToDevice) {
    }

    private FusedOps() {
    }

    private static Modules modules() {
        if (!tried) {
            synchronized (FusedOps.class) {
                if (!tried) {
                    modules = load();
                    tried = true;
                }
            }
        }
        return modules;
    }

    /** Whether the fused attention and group-norm kernels are loaded (tried once per process). */
    public static boolean available() {
        Modules m = modules();
        return m != null && m.sdpa() != null && m.sdpaMask() != null && m.groupNorm() != null
                && m.groupNormSilu() != null;
    }

    /** Whether the GEGLU kernel is loaded. */
    public static boolean hasGeglu() {
        return modules() != null && modules.geglu() != null;
    }

    /** Whether the adaLN modulation kernels are loaded. */
    public static boolean hasModulation() {
        return modules() != null && modules.modulate() != null && modules.gatedAdd() != null;
    }

    /** {@code x * (1 + scale[:, None]) + shift[:, None]} (adaLN modulation; x [B, L, D], shift and scale [B, D]). */
    public static NDArray modulate(NDArray x, NDArray shift, NDArray scale) {
        return call(modules.modulate(), x, shift, scale);
    }

    /** {@code x + gate[:, None] * y} (adaLN-Zero's gated residual; x, y [B, L, D], gate [B, D]). */
    public static NDArray gatedAdd(NDArray x, NDArray gate, NDArray y) {
        return call(modules.gatedAdd(), x, gate, y);
    }

    /** Whether {@link #hostToDevice} is loaded. */
    public static boolean hasHostToDevice() {
        return modules() != null && modules.hostToDevice() != null;
    }

    /**
     * {@code host} copied to {@code like}'s device without waiting for that device, in {@code like}'s manager. DJL's
     * {@code toDevice} and {@code create} copy with {@code non_blocking=False}, which in PyTorch synchronises the
     * stream: the host waits for all work queued on the device. From pageable host memory the driver stages the data
     * before the call returns, so {@code host} may be closed right after.
     */
    public static NDArray hostToDevice(NDArray host, NDArray like) {
        try (IValue ix = IValue.from((PtNDArray) host); IValue il = IValue.from((PtNDArray) like);
                IValue out = modules.hostToDevice().forward(ix, il)) {
            return out.toTensor((PtNDManager) like.getManager());
        }
    }

    /** Whether the tanh-GELU kernel is loaded. */
    public static boolean hasGeluTanh() {
        return modules() != null && modules.geluTanh() != null;
    }

    /** q [B, H, Lq, D], k and v [B, H, Lk, D] -> [B, H, Lq, D]; softmax(q k^T / sqrt(D)) v, mask additive or null. */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, NDArray mask) {
        return mask == null ? call(modules.sdpa(), q, k, v) : call(modules.sdpaMask(), q, k, v, mask);
    }

    /** torch.group_norm(x, groups, weight, bias, eps), with {@code silu} after it when {@code silu}. */
    public static NDArray groupNorm(NDArray x, int groups, NDArray weight, NDArray bias, double eps, boolean silu) {
        PtSymbolBlock m = silu ? modules.groupNormSilu() : modules.groupNorm();
        try (IValue ix = IValue.from((PtNDArray) x); IValue ig = IValue.from((long) groups);
                IValue iw = IValue.from((PtNDArray) weight); IValue ib = IValue.from((PtNDArray) bias);
                IValue ie = IValue.from(eps); IValue out = m.forward(ix, ig, iw, ib, ie)) {
            return out.toTensor((PtNDManager) x.getManager());
        }
    }

    /** GEGLU (Shazeer 2020): {@code a * gelu(b)} for {@code [a, b] = chunk(h, 2, -1)}. */
    public static NDArray geglu(NDArray h) {
        return call(modules.geglu(), h);
    }

    /** GELU with the tanh approximation (Hendrycks and Gimpel 2016) in one call. */
    public static NDArray geluTanh(NDArray x) {
        return call(modules.geluTanh(), x);
    }

    private static NDArray call(PtSymbolBlock m, NDArray... args) {
        IValue[] in = new IValue[args.length];
        try {
            for (int i = 0; i < args.length; i++) {
                in[i] = IValue.from((PtNDArray) args[i]);
            }
            try (IValue out = m.forward(in)) {
                return out.toTensor((PtNDManager) args[0].getManager());
            }
        } finally {
            for (IValue v : in) {
                if (v != null) {
                    v.close();
                }
            }
        }
    }

    private static Modules load() {
        if (!Boolean.parseBoolean(System.getProperty("jdiffuse.fused", "true"))) {
            return null;
        }
        NDManager owner = NDManager.newBaseManager(ai.djl.Device.cpu());
        return new Modules(
                module(owner, "Sdpa", "q: Tensor,\n    k: Tensor,\n    v: Tensor",
                        "torch.scaled_dot_product_attention(q, k, v)"),
                module(owner, "SdpaMask", "q: Tensor,\n    k: Tensor,\n    v: Tensor,\n    mask: Tensor",
                        "torch.scaled_dot_product_attention(q, k, v, mask)"),
                module(owner, "GroupNorm", GN_ARGS, "torch.group_norm(x, groups, w, b, eps)"),
                module(owner, "GroupNormSilu", GN_ARGS, "torch.silu(torch.group_norm(x, groups, w, b, eps))"),
                module(owner, "Geglu", "h: Tensor",
                        "torch.mul(torch.chunk(h, 2, -1)[0], torch.gelu(torch.chunk(h, 2, -1)[1]))"),
                module(owner, "GeluTanh", "x: Tensor",
                        "torch.mul(torch.mul(x, 0.5), torch.add(torch.tanh(torch.mul(torch.add(x, "
                        + "torch.mul(torch.pow(x, 3), 0.044715)), 0.7978845608028654)), 1.0))"),
                module(owner, "Modulate", "x: Tensor,\n    shift: Tensor,\n    scale: Tensor",
                        "torch.add(torch.mul(x, torch.add(torch.unsqueeze(scale, 1), 1.0)), torch.unsqueeze(shift, 1))"),
                module(owner, "GatedAdd", "x: Tensor,\n    gate: Tensor,\n    y: Tensor",
                        "torch.add(x, torch.mul(y, torch.unsqueeze(gate, 1)))"),
                module(owner, "HostToDevice", "x: Tensor,\n    like: Tensor",
                        "x.to(device=like.device, non_blocking=True)"));
    }

    private static final String GN_ARGS =
            "x: Tensor,\n    groups: int,\n    w: Tensor,\n    b: Tensor,\n    eps: float";

    /** Loads one kernel, or logs why not and returns null. */
    private static PtSymbolBlock module(NDManager owner, String cls, String args, String body) {
        try {
            return compile(owner, cls, args, body);
        } catch (RuntimeException | IOException | LinkageError e) {
            org.slf4j.LoggerFactory.getLogger(FusedOps.class).warn(
                    "fused kernel {} unavailable, its callers use composite ops: {}", cls, e.toString());
            return null;
        }
    }

    private static PtSymbolBlock compile(NDManager owner, String cls, String args, String body) throws IOException {
        String code = "class " + cls + "(Module):\n" + HEADER + "  def forward(self: __torch__." + cls + ",\n    "
                + args + ") -> Tensor:\n    return " + body + "\n";
        Path file = Files.createTempFile("jdiffuse-" + cls, ".pt");
        try {
            Files.write(file, archive(cls.toLowerCase(), cls, code));
            return JniUtils.loadModule((PtNDManager) owner, file, true, new String[0], new String[0], false);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /**
     * A TorchScript archive as {@code torch.jit.save} writes it: the module object pickled with protocol 2
     * ({@code __torch__.<cls>} with {@code training=False}), its code, an empty constants tuple. File format version 10
     * (PyTorch's {@code kProducedFileFormatVersion} since 1.12, the newest that libtorch 2.x reads): an older number
     * makes the loader compile every call against the operators' schemas of that version through its upgraders (at 3,
     * {@code torch.gelu} had no {@code approximate} argument and {@code torch.div} a branch on integer inputs).
     */
    static byte[] archive(String dir, String cls, String code) {
        ByteArrayOutputStream pkl = new ByteArrayOutputStream();
        pkl.writeBytes(new byte[] {(byte) 0x80, 2, 'c'});
        pkl.writeBytes(("__torch__\n" + cls + "\n").getBytes(StandardCharsets.US_ASCII));
        pkl.writeBytes(new byte[] {'q', 0, ')', (byte) 0x81, '}', '(', 'X', 8, 0, 0, 0});
        pkl.writeBytes("training".getBytes(StandardCharsets.US_ASCII));
        pkl.writeBytes(new byte[] {'q', 1, (byte) 0x89, 'u', 'b', 'q', 2, '.'});
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(zip)) {
            stored(z, dir + "/data.pkl", pkl.toByteArray());
            stored(z, dir + "/code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
            stored(z, dir + "/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
            stored(z, dir + "/version", "10\n".getBytes(StandardCharsets.US_ASCII));
            stored(z, dir + "/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return zip.toByteArray();
    }

    private static void stored(ZipOutputStream z, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
    }
}
