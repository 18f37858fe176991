package dev.jdiffuse.models.pipeline.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DitNetwork} on the {@code dit} fixture transformer (fp32, CPU): a forward whose rows sit at different
 * timesteps (and classes, the null class among them) gives each row what that row's own single-timestep forward
 * gives, which is what lets the family's batcher put several requests' steps in one forward; and the labels of
 * concatenated conditionings follow the rows.
 */
class DitNetworkTest {

    private static final double TOL = 1e-5;

    @Test
    void rowsAtDifferentTimestepsEqualTheirSingleTimestepForwards() {
        Path dir = Fixtures.require("dit");
        try (NDManager weights = NDManager.newBaseManager(); NDManager act = NDManager.newBaseManager();
                SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"))) {
            DiTTransformer2DModel model = DiTTransformer2DModel.load(dir, weights, DataType.FLOAT32);
            DitNetwork network = new DitNetwork(model);
            assertTrue(network.timestepPerRow());
            NDArray x = act.create(io.toFloatArray("hidden_states"), new Shape(io.info("hidden_states").shape()));
            int rows = (int) x.getShape().get(0);
            assertTrue(rows >= 3, "the fixture batch has at least three rows");
            long nullClass = model.config().numEmbedsAdaNorm();
            long[] labels = new long[rows];
            double[] timesteps = new double[rows];
            for (int i = 0; i < rows; i++) {
                labels[i] = i == rows - 1 ? nullClass : i % nullClass;
                timesteps[i] = 999.0 - i * (998.0 / (rows - 1)); // 999 ... 1, all different
            }
            NDArray together = network.forward(x, timesteps, new DitConditioning(labels));
            int channels = model.config().inChannels();
            assertEquals(new Shape(rows, channels, x.getShape().get(2), x.getShape().get(3)), together.getShape());
            assertEquals(DataType.FLOAT32, together.getDataType());
            for (int i = 0; i < rows; i++) {
                String row = i + ":" + (i + 1);
                NDArray alone = network.forward(x.get(row), timesteps[i], DitConditioning.repeated(labels[i], 1));
                double diff = Close.assertMaxAbs("row " + i + " at t=" + timesteps[i],
                        Close.toDouble(alone.toFloatArray()), Close.toDouble(together.get(row).toFloatArray()), TOL);
                Close.report("DitNetworkTest: row " + i + " max|diff| = " + String.format("%.3e", diff));
            }
            // the timestep matters, so the check above could fail if rows took another row's timestep
            NDArray shifted = network.forward(x.get("0:1"), timesteps[1], DitConditioning.repeated(labels[0], 1));
            assertNotEquals(0.0, shifted.sub(together.get("0:1")).abs().max().getFloat());
        }
    }

    @Test
    void concatenatedConditioningsKeepTheirRowsInOrderAndShareOneLayout() {
        DitConditioning a = new DitConditioning(new long[] {3, 4});
        DitConditioning b = DitConditioning.repeated(10, 2);
        DitConditioning c = DitConditioning.repeated(1, 1);
        assertEquals(a.rowLayout(), b.rowLayout());
        assertEquals(a.rowLayout(), c.rowLayout());
        DitConditioning all = (DitConditioning) a.concatRows(List.of(b, c), null);
        assertArrayEquals(new long[] {3, 4, 10, 10, 1}, all.labels());
        assertEquals(5, all.batchSize());
        assertArrayEquals(new long[] {3, 4, 10, 10}, ((DitConditioning) a.concatBatch(b)).labels());
        assertArrayEquals(new long[] {3, 4}, a.labels(), "the parts are unchanged");
    }
}
