package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * TAESD's residual block (diffusers {@code AutoencoderTinyBlock}):
 * {@code relu(conv.4(act(conv.2(act(conv.0(x))))) + skip(x))}, where {@code skip} is the identity or, when the
 * channel count changes, a 1x1 convolution without bias. Shapes: [B, in, H, W] -> [B, out, H, W].
 */
final class AutoencoderTinyBlock extends Module {

    private final Conv2d conv0;
    private final Conv2d conv2;
    private final Conv2d conv4;
    private final Conv2d skip;
    private final String act;

    AutoencoderTinyBlock(long in, long out, String act) {
        ModuleList<Conv2d> conv = child("conv", new ModuleList<>());
        this.conv0 = conv.add(Conv2d.same3x3(in, out));
        conv.skip();
        this.conv2 = conv.add(Conv2d.same3x3(out, out));
        conv.skip();
        this.conv4 = conv.add(Conv2d.same3x3(out, out));
        this.skip = in != out ? child("skip", new Conv2d(in, out, 1, 1, 0, false)) : null;
        this.act = act;
    }

    NDArray forward(NDArray x) {
        NDArray h = Activations.byName(act, conv0.forward(x));
        h = Activations.byName(act, conv2.forward(h));
        h = conv4.forward(h);
        return h.add(skip == null ? x : skip.forward(x)).getNDArrayInternal().relu();
    }
}
