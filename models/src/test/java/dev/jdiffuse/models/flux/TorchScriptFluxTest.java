package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one-call TorchScript forward ({@link TorchScriptFlux}) against the op-by-op forward through the Java modules
 * ({@code forwardComposite}), same weights and inputs, fp32 on the CPU, on the FLUX.1-dev (guidance embedder) and
 * FLUX.1-schnell (none) fixture transformers: the same kernels in the same order, so they agree to float32 rounding.
 * The image parity against diffusers runs through the scripted path too (it is the default), in
 * {@code PublishedLayoutsParityTest}.
 */
class TorchScriptFluxTest {

    private static final double TOLERANCE = 1e-5;

    @ParameterizedTest
    @ValueSource(strings = {"layouts/flux_dev", "layouts/flux_schnell"})
    void agreesWithTheCompositeForward(String fixture) {
        Path dir = Fixtures.require(fixture).resolve("model/transformer");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            FluxTransformer2DModel flux = FluxTransformer2DModel.load(dir, weights, DataType.FLOAT32);
            assertTrue(flux.scriptedForward(), fixture + ": the scripted forward is available");
            FluxTransformerConfig c = flux.config();
            // two rows with their own timesteps and guidance; a 3 x 5 packed grid (rows != cols) and 7 text tokens
            NDArray tokens = act.randomNormal(new Shape(2, 15, c.inChannels()));
            NDArray context = act.randomNormal(new Shape(2, 7, c.jointAttentionDim()));
            NDArray pooled = act.randomNormal(new Shape(2, c.pooledProjectionDim()));
            double[] t = {937.5, 250};
            double[] g = {3.5, 6};
            double a = compare(fixture + " per-row timesteps", flux, tokens, 3, 5, context, pooled, t, g);
            double b = compare(fixture + " one timestep", flux, tokens, 3, 5, context, pooled, new double[] {500},
                    new double[] {3.5});
            if (c.guidanceEmbeds()) {
                // the guidance reaches the output (so the comparison covers its embedder)
                NDArray g1 = flux.forward(tokens, 3, 5, context, pooled, t, new double[] {1});
                NDArray g2 = flux.forward(tokens, 3, 5, context, pooled, t, new double[] {8});
                assertTrue(g1.sub(g2).abs().max().getFloat() > 1e-4f, "the guidance changes the output");
            }
            Close.report(String.format("%s: scripted vs composite max|diff|/max|ref| = %.2e, %.2e", fixture, a, b));
        }
    }

    /** LoRA patching replaces parameter arrays: the next forward must use the new ones, and the old ones again after. */
    @Test
    void followsReplacedWeights() {
        Path dir = Fixtures.require("layouts/flux_dev").resolve("model/transformer");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            FluxTransformer2DModel flux = FluxTransformer2DModel.load(dir, weights, DataType.FLOAT32);
            FluxTransformerConfig c = flux.config();
            NDArray tokens = act.randomNormal(new Shape(1, 4, c.inChannels()));
            NDArray context = act.randomNormal(new Shape(1, 3, c.jointAttentionDim()));
            NDArray pooled = act.randomNormal(new Shape(1, c.pooledProjectionDim()));
            double[] t = {600};
            double[] g = {3.5};
            float[] before = flux.forward(tokens, 2, 2, context, pooled, t, g).toFloatArray();
            Parameter p = flux.namedParameters().get("single_transformer_blocks.1.attn.to_q.weight");
            Parameter q = flux.namedParameters().get("transformer_blocks.0.ff_context.net.2.weight");
            NDArray baseP = p.replace(p.get().mul(3f));
            NDArray baseQ = q.replace(q.get().mul(0.5f));
            float[] patched = flux.forward(tokens, 2, 2, context, pooled, t, g).toFloatArray();
            Close.assertMaxAbsRelative("patched weights", Close.toDouble(
                    flux.forwardComposite(tokens, 2, 2, context, pooled, t, g).toFloatArray()),
                    Close.toDouble(patched), TOLERANCE);
            assertTrue(maxAbsDiff(before, patched) > 1e-4, "the patch changes the output");
            p.replace(baseP);
            q.replace(baseQ);
            float[] after = flux.forward(tokens, 2, 2, context, pooled, t, g).toFloatArray();
            Close.assertMaxAbsRelative("restored weights", Close.toDouble(before), Close.toDouble(after), TOLERANCE);
        }
    }

    private static double compare(String what, FluxTransformer2DModel flux, NDArray tokens, int rows, int cols,
            NDArray context, NDArray pooled, double[] t, double[] g) {
        NDArray ref = flux.forwardComposite(tokens, rows, cols, context, pooled, t, g);
        NDArray got = flux.forward(tokens, rows, cols, context, pooled, t, g);
        assertEquals(ref.getShape(), got.getShape(), what);
        return Close.assertMaxAbsRelative(what, Close.toDouble(ref.toFloatArray()), Close.toDouble(got.toFloatArray()),
                TOLERANCE);
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
