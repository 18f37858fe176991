package dev.jdiffuse.models.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the non-blocking copies promise whatever the device: the values and dtype made on the host, on the asked
 * device, owned by the caller's manager (closed with it), and the host scratch gone. On the CPU this is the fallback
 * path; the GPU path is the same contract through {@code FusedOps.hostToDevice}.
 */
class HostCopiesTest {

    @Test
    void onDeviceKeepsValuesAndDtypeAndBelongsToTheOwner() {
        try (NDManager root = NDManager.newBaseManager(Device.cpu())) {
            NDManager owner = root.newSubManager();
            long[] ids = {49406, 320, 1929, 49407};
            NDArray a = HostCopies.onDevice(owner, Device.cpu(), m -> m.create(ids, new Shape(1, 4)));
            assertEquals(DataType.INT64, a.getDataType());
            assertEquals(Device.cpu(), a.getDevice());
            assertArrayEquals(ids, a.toLongArray());
            assertSame(owner, a.getManager());
            owner.close();
            assertTrue(a.isReleased(), "closed with its owner");
        }
    }

    @Test
    void toDeviceReturnsAnArrayAlreadyThereAsItIs() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.create(new float[] {1, 2, 3});
            assertSame(x, HostCopies.toDevice(x, Device.cpu()));
        }
    }
}
