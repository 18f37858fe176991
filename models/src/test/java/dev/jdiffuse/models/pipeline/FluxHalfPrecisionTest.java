package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

/**
 * The FLUX family's dtype plumbing of the GPU path (float16 weights: RoPE in float32 and back, RMS norms, the
 * sinusoids cast to the weights' dtype, float16 clipping of the residual streams, T5's float16 clamp, the VAE upcast
 * its config asks for), run on the CPU: the published layouts' images in float16 stay near diffusers' float32
 * reference. A sanity bound of 1 percent of the [0, 1] range (float16 keeps 11 bits of mantissa through every layer and
 * step), not the parity tolerance, which the float32 tests hold.
 */
class FluxHalfPrecisionTest {

    private static final double BOUND = 1e-2;

    @TestFactory
    List<DynamicTest> float16ImagesStayNearTheReference() {
        List<Path> flux = Fixtures.cases("layouts").stream()
                .filter(c -> c.getFileName().toString().startsWith("flux")).toList();
        return Fixtures.eachCase(flux, "layouts/flux_dev", FluxHalfPrecisionTest::run);
    }

    private static void run(Path c) {
        JsonNode meta = Fixtures.meta(c);
        LoadOptions half = new LoadOptions(Device.cpu(), DataType.FLOAT16, null, null);
        try (DiffusionPipeline base = Pipelines.open(c.resolve("model"), half);
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            DiffusionPipeline pipe = FluxFamily.withMaxSequenceLength(base, meta.get("max_sequence_length").asInt());
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(), "", meta.get("width").asInt(),
                    meta.get("height").asInt(), meta.get("num_inference_steps").asInt(),
                    meta.get("guidance_scale").asDouble(), meta.get("seed").asLong());
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            String name = Fixtures.displayName(c) + " fp16 image";
            double e = Close.assertMaxAbs(name, Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toType(DataType.FLOAT32, false).toFloatArray()), BOUND);
            Close.report(String.format("%s %.3e (float32 reference, sanity bound %.0e)", name, e, BOUND));
        }
    }
}
