package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.FusedOps;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * The transformer feed-forward with a GEGLU gate (Shazeer 2020, "GLU Variants Improve Transformer", eq. 5):
 * {@code net.2(a * gelu(g))} where {@code [a, g] = net.0.proj(x)} split in halves; {@code net.1} is dropout (no
 * parameters). Shapes: [B, L, dim] -> [B, L, dim], hidden width {@code inner}.
 */
public final class GegluFeedForward extends Module {

    private final Linear proj;
    private final Linear out;

    public GegluFeedForward(long dim, long inner) {
        ModuleList<Module> net = child("net", new ModuleList<>());
        Geglu geglu = new Geglu(dim, inner);
        net.add(geglu);
        net.skip();
        this.proj = geglu.proj;
        this.out = new Linear(inner, dim, true);
        net.add(out);
    }

    public NDArray forward(NDArray x) {
        NDArray h = proj.forward(x);
        if (FusedOps.hasGeglu()) {
            return out.forward(FusedOps.geglu(h));
        }
        NDList halves = h.split(2, h.getShape().dimension() - 1);
        return out.forward(halves.get(0).mul(Activations.gelu(halves.get(1))));
    }

    /** diffusers' {@code GEGLU} module: holds the projection named {@code proj}. */
    private static final class Geglu extends Module {
        private final Linear proj;

        Geglu(long dim, long inner) {
            this.proj = child("proj", new Linear(dim, inner * 2, true));
        }
    }
}
