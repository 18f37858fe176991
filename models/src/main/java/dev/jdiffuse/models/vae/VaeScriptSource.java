package dev.jdiffuse.models.vae;

import dev.jdiffuse.models.nn.ScriptWeights;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The TorchScript source of an {@link AutoencoderKL}'s encoder and decoder, generated from its config, and the order
 * of the weights that the script takes as one list. The script computes what the Java modules compute, op for op and
 * in the same order (see their javadoc): ResnetBlock2D without time embedding ({@code x + conv2(silu(norm2(conv1(
 * silu(norm1(x))))))}, shortcut 1x1 conv where the width changes), the mid block's single-head attention over the
 * H*W tokens through {@code torch.scaled_dot_product_attention} (as {@link dev.jdiffuse.models.nn.FusedOps} does),
 * nearest 2x upsampling then a 3x3 conv, the encoder's pad-right-bottom then stride-2 conv, group norms with
 * eps 1e-6, and {@link AutoencoderKL}'s latent scaling and image denormalisation with the same float constants.
 *
 * <p>Methods of class {@value #CLASS} ({@code w} is the weight list in {@link #weightNames()} order; every output is
 * in the weights' dtype unless said otherwise, inputs of any float dtype are cast to it):
 * <ul>
 * <li>{@code decode(z, w)}: VAE-space latents [B, latent, h, w] -> image [B, out, f*h, f*w] in about [-1, 1]
 *     ({@code post_quant_conv}, decoder); {@link AutoencoderKL#decode}.</li>
 * <li>{@code to_image(latents, w)}: diffusion-model latents -> float32 image in [0, 1] (unscale, decode,
 *     {@code (x / 2 + 0.5).clamp(0, 1)}); {@link AutoencoderKL#latentsToImage}.</li>
 * <li>{@code encode(x, w)}: image [B, in, H, W] in [-1, 1] -> [mean, logvar] [B, latent, H/f, W/f] each, logvar
 *     clamped to [-30, 20] (encoder, {@code quant_conv}); {@link AutoencoderKL#encode}.</li>
 * <li>{@code to_latents(x, w)}: image -> diffusion-model latents from the posterior mean;
 *     {@link AutoencoderKL#imageToLatents}.</li>
 * </ul>
 *
 * @param code the {@code code/__torch__.py} text
 * @param weightNames parameter paths ({@code decoder.up_blocks.0.resnets.0.norm1.weight}, ...) in list order, and
 *     the names of the constants among them
 * @param constants names of the non-parameter tensors in the list: {@value #LATENTS_MEAN} and {@value #LATENTS_STD}
 *     where the config has per-channel latent statistics, else none
 */
record VaeScriptSource(String code, List<String> weightNames, List<String> constants) {

    static final String CLASS = "VaeScript";
    /** The per-channel latent mean, [1, latent, 1, 1] in the weights' dtype. */
    static final String LATENTS_MEAN = "#latents_mean";
    /** The per-channel latent standard deviation, [1, latent, 1, 1] in the weights' dtype. */
    static final String LATENTS_STD = "#latents_std";

    private static final float LOGVAR_MIN = -30f;
    private static final float LOGVAR_MAX = 20f;

    /**
     * @throws UnsupportedOperationException when the script's weights are not exactly the model's parameters (the
     *     caller then keeps the op-by-op path)
     */
    static VaeScriptSource of(AutoencoderKLConfig config, Set<String> parameterNames) {
        Generator g = new Generator(config);
        String code = g.generate();
        List<String> params = g.names.stream().filter(n -> !g.constants.contains(n)).toList();
        ScriptWeights.requireSameNames("VAE", params, parameterNames);
        return new VaeScriptSource(code, List.copyOf(g.names), List.copyOf(g.constants));
    }


    private static final class Generator {
        private final AutoencoderKLConfig c;
        private final List<String> names = new ArrayList<>();
        private final List<String> constants = new ArrayList<>();
        private final Map<String, Integer> index = new HashMap<>();
        private final StringBuilder body = new StringBuilder();

        Generator(AutoencoderKLConfig c) {
            this.c = c;
        }

        private int w(String name) {
            if (index.containsKey(name)) {
                throw new IllegalStateException("weight listed twice: " + name);
            }
            index.put(name, names.size());
            names.add(name);
            return names.size() - 1;
        }

        /** Appends {@code p.weight} and {@code p.bias}; returns the weight's index. */
        private int wb(String p) {
            int i = w(p + ".weight");
            w(p + ".bias");
            return i;
        }

        private void line(String fmt, Object... args) {
            body.append("    ").append(String.format(Locale.ROOT, fmt, args)).append('\n');
        }

        private String take() {
            String s = body.toString();
            body.setLength(0);
            return s;
        }

        String generate() {
            if (!"silu".equals(c.actFn()) && !"swish".equals(c.actFn())) {
                throw new UnsupportedOperationException("act_fn " + c.actFn());
            }
            String moments = encoder();
            String decode = decoder();
            int mean = -1;
            int std = -1;
            if (c.latentsMean() != null) {
                constants.add(LATENTS_MEAN);
                constants.add(LATENTS_STD);
                mean = w(LATENTS_MEAN);
                std = w(LATENTS_STD);
            }
            // AutoencoderKL.unscaleLatents / scaleLatents with the same float constants, in the same order
            String sf = py((float) c.scalingFactor());
            float shift = (float) c.shift();
            line("z = latents.to(w[0].dtype)");
            if (mean >= 0) {
                line("z = z * w[%d] / %s + w[%d]", std, sf, mean);
            } else {
                line("z = z / %s", sf);
                if (shift != 0f) {
                    line("z = z + %s", py(shift));
                }
            }
            // dtype 6 is float32 (ScalarType's number, as torch.jit.save writes dtypes)
            line("x = self.decode(z, w).to(6)");
            line("return torch.clamp(x / 2.0 + 0.5, 0.0, 1.0)");
            String toImage = take();
            line("m = torch.chunk(self.moments(x, w), 2, 1)");
            line("return [m[0], torch.clamp(m[1], %s, %s)]", py(LOGVAR_MIN), py(LOGVAR_MAX));
            String encode = take();
            line("z = torch.chunk(self.moments(x, w), 2, 1)[0]");
            if (mean >= 0) {
                line("return (z - w[%d]) * %s / w[%d]", mean, sf, std);
            } else if (shift != 0f) {
                line("return (z - %s) * %s", py(shift), sf);
            } else {
                line("return z * %s", sf);
            }
            String toLatents = take();
            String self = "self: __torch__." + CLASS;
            return "class " + CLASS + "(Module):\n  __parameters__ = []\n  __buffers__ = []\n  training : bool\n"
                    + helpers()
                    + "  def moments(" + self + ", x: Tensor, w: List[Tensor]) -> Tensor:\n" + moments
                    + "  def decode(" + self + ", z: Tensor, w: List[Tensor]) -> Tensor:\n" + decode
                    + "  def to_image(" + self + ", latents: Tensor, w: List[Tensor]) -> Tensor:\n" + toImage
                    + "  def encode(" + self + ", x: Tensor, w: List[Tensor]) -> List[Tensor]:\n" + encode
                    + "  def to_latents(" + self + ", x: Tensor, w: List[Tensor]) -> Tensor:\n" + toLatents;
        }

        /** VaeEncoder then quant_conv: [B, in, H, W] -> [B, 2 * latent, H / f, W / f] (the {@code moments} body). */
        private String encoder() {
            List<Integer> ch = c.blockOutChannels();
            line("h = x.to(w[0].dtype)");
            int ci = wb("encoder.conv_in");
            line("h = torch.conv2d(h, w[%d], w[%d], [1, 1], [1, 1])", ci, ci + 1);
            int out = ch.get(0);
            for (int i = 0; i < ch.size(); i++) {
                int in = out;
                out = ch.get(i);
                for (int l = 0; l < c.layersPerBlock(); l++) {
                    resnetCall("encoder.down_blocks." + i + ".resnets." + l, l == 0 ? in : out, out);
                }
                if (i < ch.size() - 1) {
                    int d = wb("encoder.down_blocks." + i + ".downsamplers.0.conv");
                    // Downsample2D with padding 0: F.pad(x, (0, 1, 0, 1)) then a stride-2 3x3 conv
                    line("h = torch.conv2d(torch.constant_pad_nd(h, [0, 1, 0, 1], 0.0), w[%d], w[%d], [2, 2],"
                            + " [0, 0])", d, d + 1);
                }
            }
            midBlock("encoder.mid_block");
            normOut("encoder");
            if (c.useQuantConv()) {
                int q = wb("quant_conv");
                line("h = torch.conv2d(h, w[%d], w[%d])", q, q + 1);
            }
            line("return h");
            return take();
        }

        /** post_quant_conv then VaeDecoder: [B, latent, h, w] -> [B, out, f*h, f*w] (the {@code decode} body). */
        private String decoder() {
            List<Integer> ch = c.blockOutChannels();
            line("h = z.to(w[0].dtype)");
            if (c.usePostQuantConv()) {
                int q = wb("post_quant_conv");
                line("h = torch.conv2d(h, w[%d], w[%d])", q, q + 1);
            }
            int ci = wb("decoder.conv_in");
            line("h = torch.conv2d(h, w[%d], w[%d], [1, 1], [1, 1])", ci, ci + 1);
            midBlock("decoder.mid_block");
            int out = ch.get(ch.size() - 1);
            for (int i = 0; i < ch.size(); i++) {
                int in = out;
                out = ch.get(ch.size() - 1 - i);
                for (int l = 0; l < c.layersPerBlock() + 1; l++) {
                    resnetCall("decoder.up_blocks." + i + ".resnets." + l, l == 0 ? in : out, out);
                }
                if (i < ch.size() - 1) {
                    int u = wb("decoder.up_blocks." + i + ".upsamplers.0.conv");
                    // Upsample2D: nearest 2x (exact copies, as the Java path's repeat) then a 3x3 conv
                    line("h = torch.upsample_nearest2d(h, [h.size(2) * 2, h.size(3) * 2])");
                    line("h = torch.conv2d(h, w[%d], w[%d], [1, 1], [1, 1])", u, u + 1);
                }
            }
            normOut("decoder");
            line("return h");
            return take();
        }

        /** VaeMidBlock: resnets.0, the optional attentions.0, resnets.1 (all at the same width). */
        private void midBlock(String p) {
            int width = c.blockOutChannels().get(c.blockOutChannels().size() - 1);
            resnetCall(p + ".resnets.0", width, width);
            if (c.midBlockAddAttention()) {
                String a = p + ".attentions.0";
                int base = wb(a + ".group_norm");
                for (String s : List.of("to_q", "to_k", "to_v", "to_out.0")) {
                    wb(a + "." + s);
                }
                line("h = self.attention(h, w, %d)", base);
            }
            resnetCall(p + ".resnets.1", width, width);
        }

        /** conv_norm_out, SiLU, conv_out of the encoder or decoder. */
        private void normOut(String p) {
            int no = wb(p + ".conv_norm_out");
            int co = wb(p + ".conv_out");
            line("h = torch.conv2d(torch.silu(torch.group_norm(h, %d, w[%d], w[%d], %s)), w[%d], w[%d], [1, 1],"
                    + " [1, 1])", c.normNumGroups(), no, no + 1, py(VaeEncoder.EPS), co, co + 1);
        }

        /** Appends a ResnetBlock2D's weights in the order {@code resnet()} reads them and emits its call. */
        private void resnetCall(String p, int in, int out) {
            int base = wb(p + ".norm1");
            wb(p + ".conv1");
            wb(p + ".norm2");
            wb(p + ".conv2");
            if (in != out) {
                wb(p + ".conv_shortcut");
            }
            line("h = self.resnet(h, w, %d, %s)", base, in != out ? "True" : "False");
        }

        private String helpers() {
            String self = "self: __torch__." + CLASS;
            String g = Integer.toString(c.normNumGroups());
            String eps = py(VaeEncoder.EPS);
            return ""
                    // ResnetBlock2D without time embedding: shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))
                    + "  def resnet(" + self + ", x: Tensor, w: List[Tensor], i: int, shortcut: bool) -> Tensor:\n"
                    + "    h = torch.conv2d(torch.silu(torch.group_norm(x, " + g + ", w[i], w[i + 1], " + eps + ")),"
                    + " w[i + 2], w[i + 3], [1, 1], [1, 1])\n"
                    + "    h = torch.conv2d(torch.silu(torch.group_norm(h, " + g + ", w[i + 4], w[i + 5], " + eps
                    + ")), w[i + 6], w[i + 7], [1, 1], [1, 1])\n"
                    + "    if shortcut:\n"
                    + "      x = torch.conv2d(x, w[i + 8], w[i + 9])\n"
                    + "    return x + h\n"
                    // VaeAttention: x + to_out(sdpa(to_q(n), to_k(n), to_v(n))) over n = group_norm(x) as H*W
                    // tokens [B, HW, C], one head (Attention.scaledDotProduct's reshapes and permutes)
                    + "  def attention(" + self + ", x: Tensor, w: List[Tensor], i: int) -> Tensor:\n"
                    + "    b = x.size(0)\n    c = x.size(1)\n    hh = x.size(2)\n    ww = x.size(3)\n"
                    + "    t = torch.group_norm(x, " + g + ", w[i], w[i + 1], " + eps + ").reshape([b, c, hh * ww])"
                    + ".permute([0, 2, 1])\n"
                    + "    q = torch.linear(t, w[i + 2], w[i + 3]).reshape([b, hh * ww, 1, c]).permute([0, 2, 1, 3])\n"
                    + "    k = torch.linear(t, w[i + 4], w[i + 5]).reshape([b, hh * ww, 1, c]).permute([0, 2, 1, 3])\n"
                    + "    v = torch.linear(t, w[i + 6], w[i + 7]).reshape([b, hh * ww, 1, c]).permute([0, 2, 1, 3])\n"
                    + "    o = torch.scaled_dot_product_attention(q, k, v).permute([0, 2, 1, 3]).reshape([b, hh * ww, c])\n"
                    + "    o = torch.linear(o, w[i + 8], w[i + 9]).permute([0, 2, 1]).reshape([b, c, hh, ww])\n"
                    + "    return o + x\n";
        }

        /** A float literal that parses back to the same double. */
        private static String py(double d) {
            String s = Double.toString(d);
            return s.contains("E") ? s.replace("E", "e") : s;
        }

        /** The float's exact value as a literal: kernels round it back to the same float the Java path passes. */
        private static String py(float f) {
            return py((double) f);
        }
    }
}
