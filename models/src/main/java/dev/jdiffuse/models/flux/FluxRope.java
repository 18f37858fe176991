package dev.jdiffuse.models.flux;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.HostCopies;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * FLUX's rotary position embedding (Su et al. 2021, RoFormer, eq. 34) over three position axes, diffusers'
 * {@code FluxPosEmbed} and {@code apply_rotary_emb(use_real=True, use_real_unbind_dim=-1)}.
 *
 * <p>Every token has an id {@code (a0, a1, a2)}: text tokens {@code (0, 0, 0)}, the image token of packed row r and
 * column c {@code (0, r, c)} (the pipeline's {@code _prepare_latent_image_ids}). Axis i owns {@code axes[i]} channels of
 * each head; its frequencies are {@code theta^(-2j / axes[i])}, {@code j < axes[i] / 2}, and a token's angles are
 * {@code a_i * freq_j}, each repeated twice (interleaved pairs). Tables are computed on the host in double precision, as
 * diffusers does ({@code freqs_dtype=float64}), and cast to float32; kept on the device per sequence layout (copied
 * there once, without waiting for the device).
 *
 * <p>Rotation: channel pairs {@code (x_{2j}, x_{2j+1})} become {@code (x_{2j} cos - x_{2j+1} sin, x_{2j+1} cos + x_{2j}
 * sin)}, computed in float32 and cast back to the input's dtype.
 */
public final class FluxRope {

    /** diffusers' {@code FluxPosEmbed(theta=10000)}. */
    public static final double THETA = 10000.0;

    /** Layouts kept per device (a 1024 x 1024 image with 512 text tokens: 4.7 MB of tables); further ones per step. */
    private static final int MAX_CACHED_LAYOUTS = 32;

    private final int[] axes;
    private final int headDim;
    private final Map<Placed, NDList> onDevice = new ConcurrentHashMap<>();

    /** One sequence layout: text tokens first, then the packed image grid row by row. */
    private record Layout(int textTokens, int rows, int cols) {
    }

    /** A layout's tables on one device. */
    private record Placed(Layout layout, Device device) {
    }

    public FluxRope(List<Integer> axesDims) {
        this.axes = axesDims.stream().mapToInt(Integer::intValue).toArray();
        int d = 0;
        for (int a : axes) {
            d += a;
        }
        this.headDim = d;
    }

    /**
     * cos and sin tables [1, S, 1, headDim] (float32) for {@code textTokens} text tokens followed by a {@code rows x cols}
     * grid of image tokens, S = textTokens + rows x cols: kept in {@code owner} (a manager living as long as the
     * model: its weights') and reused, or, once {@value #MAX_CACHED_LAYOUTS} layouts are kept on that device, made in
     * {@code step} for this call only. Read-only: callers never close or reattach them.
     */
    public NDList tables(NDManager owner, NDManager step, int textTokens, int rows, int cols) {
        Layout layout = new Layout(textTokens, rows, cols);
        Placed key = new Placed(layout, owner.getDevice());
        NDList kept = onDevice.get(key);
        if (kept != null) {
            return kept;
        }
        if (onDevice.size() >= MAX_CACHED_LAYOUTS) {
            return place(step, layout);
        }
        return onDevice.computeIfAbsent(key, k -> place(owner, layout));
    }

    /** The tables as [1, S, 1, headDim], broadcast over batch and heads as they are: no op ever runs on them. */
    private NDList place(NDManager manager, Layout layout) {
        float[][] t = compute(layout);
        Shape shape = new Shape(1, t[0].length / headDim, 1, headDim);
        return new NDList(HostCopies.onDeviceOf(manager, m -> m.create(t[0], shape)),
                HostCopies.onDeviceOf(manager, m -> m.create(t[1], shape)));
    }

    private float[][] compute(Layout l) {
        int s = l.textTokens() + l.rows() * l.cols();
        float[] cos = new float[s * headDim];
        float[] sin = new float[s * headDim];
        for (int token = 0; token < s; token++) {
            int image = token - l.textTokens();
            double[] ids = image < 0 ? new double[] {0, 0, 0} : new double[] {0, image / l.cols(), image % l.cols()};
            int offset = token * headDim;
            for (int axis = 0; axis < axes.length; axis++) {
                int dim = axes[axis];
                for (int j = 0; j < dim / 2; j++) {
                    // diffusers: 1 / theta ** (arange(0, dim, 2)[: dim // 2] / dim), float64
                    double freq = 1.0 / Math.pow(THETA, (2.0 * j) / dim);
                    double angle = ids[axis] * freq;
                    float c = (float) Math.cos(angle);
                    float n = (float) Math.sin(angle);
                    cos[offset + 2 * j] = c;
                    cos[offset + 2 * j + 1] = c;
                    sin[offset + 2 * j] = n;
                    sin[offset + 2 * j + 1] = n;
                }
                offset += dim;
            }
        }
        return new float[][] {cos, sin};
    }

    /**
     * Rotates {@code x} [B, S, H, D] by the tables from {@link #tables} ([1, S, 1, D] each). The tables are only ever
     * the right-hand operand: a result belongs to its left operand's manager, so nothing lands in the tables' owner.
     */
    public static NDArray apply(NDArray x, NDArray cos, NDArray sin) {
        Shape s = x.getShape();
        DataType dtype = x.getDataType();
        NDArray x32 = dtype == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray pairs = x32.reshape(s.get(0), s.get(1), s.get(2), s.get(3) / 2, 2);
        NDList parts = pairs.split(2, 4);
        // (x_even, x_odd) -> (-x_odd, x_even), interleaved back: diffusers' stack([-x_imag, x_real], -1).flatten(3)
        NDArray rotated = parts.get(1).neg().concat(parts.get(0), 4).reshape(s);
        NDArray out = x32.mul(cos).add(rotated.mul(sin));
        return out.getDataType() == dtype ? out : out.toType(dtype, false);
    }
}
