package dev.jdiffuse.models;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class EngineSmokeTest {
    @Test
    void pytorchEngineRunsOfflineOnCpu() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 2, 3});
            assertEquals(14f, a.mul(a).sum().getFloat(), 0f);
            System.out.println("engine " + Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion());
        }
    }
}
