package dev.jdiffuse.models.sd3;

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
 * The one-call TorchScript forward ({@link TorchScriptSD3}) against the op-by-op forward through the Java modules
 * ({@code forwardComposite}), same weights and inputs, fp32 on the CPU: SD 3 (no q/k norms), SD 3.5 (per-head RMS norms,
 * an MMDiT-X first block) and the SD 3.5 layout's transformer; every fixture's last block is context-pre-only. They
 * run the same kernels in the same order, so they agree to float32 rounding. Image parity against diffusers goes
 * through the scripted path too (the default), in the pipeline tests.
 */
class TorchScriptSD3Test {

    private static final double TOLERANCE = 1e-5;

    @ParameterizedTest
    @ValueSource(strings = {"sd3_transformer/sd3", "sd3_transformer/sd35", "layouts/sd35/model/transformer"})
    void agreesWithTheCompositeForward(String fixture) {
        Path dir = Fixtures.require(fixture);
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            SD3Transformer2DModel m = SD3Transformer2DModel.load(dir, weights, DataType.FLOAT32);
            assertTrue(m.scriptedForward(), fixture + ": the scripted forward is available");
            SD3TransformerConfig c = m.config();
            // two rows with their own timesteps; a 6 x 10 latent (3 x 5 patches, not square) and 9 text tokens
            NDArray x = act.randomNormal(new Shape(2, c.inChannels(), 6, 10));
            NDArray context = act.randomNormal(new Shape(2, 9, c.jointAttentionDim()));
            NDArray pooled = act.randomNormal(new Shape(2, c.pooledProjectionDim()));
            double a = compare(fixture + " per-row timesteps", m, x, context, pooled, new double[] {937.5, 125});
            double b = compare(fixture + " one timestep", m, x, context, pooled, new double[] {500});
            Close.report(String.format("%s: scripted vs composite max|diff|/max|ref| = %.2e, %.2e", fixture, a, b));
        }
    }

    /** LoRA patching replaces parameter arrays: the next forward must use the new ones, and the old ones again after. */
    @Test
    void followsReplacedWeights() {
        Path dir = Fixtures.require("sd3_transformer/sd35");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager()) {
            SD3Transformer2DModel m = SD3Transformer2DModel.load(dir, weights, DataType.FLOAT32);
            SD3TransformerConfig c = m.config();
            NDArray x = act.randomNormal(new Shape(1, c.inChannels(), 4, 4));
            NDArray context = act.randomNormal(new Shape(1, 5, c.jointAttentionDim()));
            NDArray pooled = act.randomNormal(new Shape(1, c.pooledProjectionDim()));
            double[] t = {600};
            float[] before = m.forward(x, context, pooled, t).toFloatArray();
            Parameter p = m.namedParameters().get("transformer_blocks.0.attn2.to_v.weight");
            Parameter q = m.namedParameters().get("transformer_blocks.1.attn.add_k_proj.weight");
            NDArray baseP = p.replace(p.get().mul(3f));
            NDArray baseQ = q.replace(q.get().mul(0.5f));
            float[] patched = m.forward(x, context, pooled, t).toFloatArray();
            Close.assertMaxAbsRelative("patched weights", Close.toDouble(
                    m.forwardComposite(x, context, pooled, t).toFloatArray()), Close.toDouble(patched), TOLERANCE);
            double changed = 0;
            for (int i = 0; i < before.length; i++) {
                changed = Math.max(changed, Math.abs(before[i] - patched[i]));
            }
            assertTrue(changed > 1e-4, "the patch changes the output");
            p.replace(baseP);
            q.replace(baseQ);
            float[] after = m.forward(x, context, pooled, t).toFloatArray();
            Close.assertMaxAbsRelative("restored weights", Close.toDouble(before), Close.toDouble(after), TOLERANCE);
        }
    }

    private static double compare(String what, SD3Transformer2DModel m, NDArray x, NDArray context, NDArray pooled,
            double[] t) {
        NDArray ref = m.forwardComposite(x, context, pooled, t);
        NDArray got = m.forward(x, context, pooled, t);
        assertEquals(ref.getShape(), got.getShape(), what);
        return Close.assertMaxAbsRelative(what, Close.toDouble(ref.toFloatArray()), Close.toDouble(got.toFloatArray()),
                TOLERANCE);
    }
}
