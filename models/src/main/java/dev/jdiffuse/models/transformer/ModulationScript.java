package dev.jdiffuse.models.transformer;

/**
 * TorchScript text of the helpers the generated DiT forwards share (FLUX's and SD 3's scripts): the adaLN modulation
 * and gated residual of {@link Modulation}, the affine-free layer norm (eps 1e-6) of their blocks, and the timestep /
 * text MLP {@code linear_2(silu(linear_1(f)))} of their conditioning embedders. Each is a method of the script's
 * class {@code cls}; shapes: x [B, L, D], shift / scale / gate [B, D].
 */
public final class ModulationScript {

    private ModulationScript() {
    }

    /** Methods {@code modulate(x, shift, scale)}, {@code gated(x, gate, y)}, {@code norm(x)}, {@code embed(f, w, i)}. */
    public static String helpers(String cls) {
        String self = "self: __torch__." + cls;
        return ""
                // x * (1 + scale) + shift over the sequence (Modulation.modulate)
                + "  def modulate(" + self + ", x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:\n"
                + "    return torch.add(torch.mul(x, torch.add(torch.unsqueeze(scale, 1), 1.0)),"
                + " torch.unsqueeze(shift, 1))\n"
                // x + y * gate (Modulation.addGated)
                + "  def gated(" + self + ", x: Tensor, gate: Tensor, y: Tensor) -> Tensor:\n"
                + "    return torch.add(x, torch.mul(y, torch.unsqueeze(gate, 1)))\n"
                + "  def norm(" + self + ", x: Tensor) -> Tensor:\n"
                + "    return torch.layer_norm(x, [x.size(2)], None, None, 1e-06)\n"
                // TimestepEmbedding with SiLU; its weights at w[i] (linear_1 weight, bias), w[i + 2] (linear_2)
                + "  def embed(" + self + ", f: Tensor, w: List[Tensor], i: int) -> Tensor:\n"
                + "    return torch.linear(torch.silu(torch.linear(f, w[i], w[i + 1])), w[i + 2], w[i + 3])\n";
    }
}
