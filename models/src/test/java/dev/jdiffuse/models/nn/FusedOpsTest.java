package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TorchScript archives {@link FusedOps} writes load in the bundled libtorch and compute what the composite ops
 * compute. (The second surefire run, with {@code -Djdiffuse.fused=false}, covers the composite path.)
 */
class FusedOpsTest {

    @Test
    void hostToDeviceCopiesTheValuesIntoTheTargetsManager() {
        if (!Boolean.parseBoolean(System.getProperty("jdiffuse.fused", "true"))) {
            assertTrue(!FusedOps.hasHostToDevice(), "disabled by the property");
            return;
        }
        assertTrue(FusedOps.hasHostToDevice(), "loaded");
        try (NDManager target = NDManager.newBaseManager(); NDManager host = NDManager.newBaseManager()) {
            NDArray values = host.randomNormal(new Shape(2, 4, 3, 5));
            NDArray like = target.zeros(new Shape());
            NDArray copied = FusedOps.hostToDevice(values, like);
            assertEquals(target, copied.getManager());
            assertEquals(values.getShape(), copied.getShape());
            float[] expected = values.toFloatArray();
            host.close(); // the copy owns its memory
            org.junit.jupiter.api.Assertions.assertArrayEquals(expected, copied.toFloatArray());
        }
    }

    @Test
    void kernelsLoadAndAgreeWithTheirDefinitions() {
        if (!Boolean.parseBoolean(System.getProperty("jdiffuse.fused", "true"))) {
            assertTrue(!FusedOps.available(), "disabled by the property");
            return;
        }
        assertTrue(FusedOps.available() && FusedOps.hasGeglu() && FusedOps.hasGeluTanh() && FusedOps.hasModulation(),
                "all kernels loaded");
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(2, 3, 7, 8));
            NDArray k = m.randomNormal(new Shape(2, 3, 5, 8));
            NDArray v = m.randomNormal(new Shape(2, 3, 5, 8));
            NDArray ref = q.div((float) Math.sqrt(8)).matMul(k.transpose(0, 1, 3, 2)).softmax(-1).matMul(v);
            assertClose(ref, FusedOps.attention(q, k, v, null), 1e-5);
            NDArray mask = m.randomNormal(new Shape(1, 1, 7, 5));
            NDArray refMasked = q.div((float) Math.sqrt(8)).matMul(k.transpose(0, 1, 3, 2)).add(mask).softmax(-1)
                    .matMul(v);
            assertClose(refMasked, FusedOps.attention(q, k, v, mask), 1e-5);

            NDArray x = m.randomNormal(new Shape(2, 8, 4, 4));
            NDArray w = m.randomNormal(new Shape(8));
            NDArray b = m.randomNormal(new Shape(8));
            NDArray grouped = x.reshape(2, 4, 32);
            NDArray mean = grouped.mean(new int[] {2}, true);
            NDArray var = grouped.sub(mean).square().mean(new int[] {2}, true);
            NDArray gnRef = grouped.sub(mean).div(var.add(1e-5f).sqrt()).reshape(2, 8, 4, 4)
                    .mul(w.reshape(1, 8, 1, 1)).add(b.reshape(1, 8, 1, 1));
            assertClose(gnRef, FusedOps.groupNorm(x, 4, w, b, 1e-5, false), 1e-5);
            assertClose(gnRef.mul(gnRef.getNDArrayInternal().sigmoid()), FusedOps.groupNorm(x, 4, w, b, 1e-5, true),
                    1e-5);

            NDArray h = m.randomNormal(new Shape(2, 3, 8));
            NDList halves = h.split(2, 2);
            assertClose(halves.get(0).mul(halves.get(1).getNDArrayInternal().gelu()), FusedOps.geglu(h), 1e-5);
            NDArray inner = h.pow(3).mul(0.044715f).add(h).mul((float) Math.sqrt(2 / Math.PI));
            assertClose(h.mul(0.5f).mul(inner.tanh().add(1f)), FusedOps.geluTanh(h), 1e-5);

            NDArray shift = m.randomNormal(new Shape(2, 8));
            NDArray scale = m.randomNormal(new Shape(2, 8));
            assertClose(h.mul(scale.add(1f).expandDims(1)).add(shift.expandDims(1)), FusedOps.modulate(h, shift, scale),
                    1e-5);
            NDArray y = m.randomNormal(new Shape(2, 3, 8));
            assertClose(h.add(y.mul(scale.expandDims(1))), FusedOps.gatedAdd(h, scale, y), 1e-5);
        }
    }

    private static void assertClose(NDArray expected, NDArray actual, double tol) {
        assertEquals(expected.getShape(), actual.getShape());
        float diff = expected.sub(actual).abs().max().getFloat();
        assertTrue(diff <= tol, "max |diff| " + diff);
    }
}
