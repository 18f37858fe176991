package dev.jdiffuse.server.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.flux.FluxConditioning;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code --t5-device} reaches the model: the production loader given {@code cpu} opens a float16 FLUX model whose T5
 * context is the float32 encoder's rounded once to float16 (the models module's {@code T5ApartTest} pins the
 * families; this pins the server's path to it). Unknown devices fail when the loader is made.
 */
class T5DeviceLoaderTest {

    @Test
    void theFlagPutsT5ApartInFloat32() throws Exception {
        var fixture = Fixtures.require("layouts/flux_dev").resolve("model");
        GenerationRequest r = GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 2, 3.5, 1);
        try (DiffusionPipeline full = (DiffusionPipeline) ModelLoaders.production().load(fixture, "cpu", "fp32");
                DiffusionPipeline apart = (DiffusionPipeline) ModelLoaders.production("cpu").load(fixture, "cpu",
                        "fp16");
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            NDArray want = ((FluxConditioning) full.architecture().encode(job, r).positive()).context();
            NDArray got = ((FluxConditioning) apart.architecture().encode(job, r).positive()).context();
            assertEquals(DataType.FLOAT16, got.getDataType());
            assertArrayEquals(want.toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).toFloatArray(),
                    got.toType(DataType.FLOAT32, false).toFloatArray(), 0f);
        }
    }
}
