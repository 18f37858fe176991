package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * iPNDM with variable steps (zju-pi's diff-solvers {@code ipndm_v}, ComfyUI's {@code sample_ipndm_v}): {@link Ipndm}'s
 * Adams-Bashforth warm-up from order 1 to 4 with each coefficient computed for the actual step sizes
 * {@code h_n = s' - s}, {@code h_{n-1}, h_{n-2}, h_{n-3}} (the previous ones) instead of the equal-step constants, so
 * it keeps its order on uneven levels (Karras, shifted flow):
 * <pre>
 *   order 2:  x' = x + h_n (c1 d + c2 d1),   c1 = (2 + h_n/h_{n-1})/2,   c2 = -(h_n/h_{n-1})/2
 * </pre>
 * and the third- and fourth-order coefficients of the reference (in {@link #step}). A step to 0 lands on
 * {@code D(x, s)}.
 */
public final class IpndmVariable implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        NDArray x0 = s.denoise(x);
        int i = s.index();
        double next = s.next();
        NDArray d = div(x.sub(x0), s.sigma());
        NDArray d1 = s.previous("d1");
        NDArray d2 = s.previous("d2");
        NDArray d3 = s.previous("d3");
        s.remember("d1", d);
        s.remember("d2", d1);
        s.remember("d3", d2);
        if (next == 0) {
            return x0;
        }
        int order = Math.min(4, i + 1);
        double hn = next - s.sigma();
        if (order == 1) {
            return x.add(mul(d, hn));
        }
        double hn1 = s.sigma() - s.sigmaAt(i - 1);
        NDArray slope;
        if (order == 2) {
            slope = mul(d, (2 + hn / hn1) / 2).add(mul(d1, -(hn / hn1) / 2));
        } else {
            double hn2 = s.sigmaAt(i - 1) - s.sigmaAt(i - 2);
            double temp1 = (1 - hn / (3 * (hn + hn1)) * (hn * (hn + hn1)) / (hn1 * (hn1 + hn2))) / 2;
            if (order == 3) {
                double c1 = (2 + hn / hn1) / 2 + temp1;
                double c2 = -(hn / hn1) / 2 - (1 + hn1 / hn2) * temp1;
                double c3 = temp1 * hn1 / hn2;
                slope = mul(d, c1).add(mul(d1, c2)).add(mul(d2, c3));
            } else {
                double hn3 = s.sigmaAt(i - 2) - s.sigmaAt(i - 3);
                double temp2 = ((1 - hn / (3 * (hn + hn1))) / 2 + (1 - hn / (2 * (hn + hn1))) * hn
                        / (6 * (hn + hn1 + hn2))) * (hn * (hn + hn1) * (hn + hn1 + hn2))
                        / (hn1 * (hn1 + hn2) * (hn1 + hn2 + hn3));
                double ratio = hn1 * (hn1 + hn2) / (hn2 * (hn2 + hn3));
                double c1 = (2 + hn / hn1) / 2 + temp1 + temp2;
                double c2 = -(hn / hn1) / 2 - (1 + hn1 / hn2) * temp1 - (1 + hn1 / hn2 + ratio) * temp2;
                double c3 = temp1 * hn1 / hn2 + (hn1 / hn2 + ratio * (1 + hn2 / hn3)) * temp2;
                double c4 = -temp2 * ratio * hn1 / hn2;
                slope = mul(d, c1).add(mul(d1, c2)).add(mul(d2, c3)).add(mul(d3, c4));
            }
        }
        return x.add(mul(slope, hn));
    }
}
