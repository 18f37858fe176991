package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.flux.FluxConditioning;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.models.pipeline.sd3.Sd3Conditioning;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link LoadOptions#t5Device}: the T5 encoder of FLUX and SD 3.5 kept apart in float32 (host memory on a GPU
 * server). On this CPU-only machine "apart" is a float32 sub-manager beside float16 weights, which exercises the
 * same plumbing except the device copy: the T5 part of a float16 model's conditioning must be exactly the float32
 * model's T5 context rounded to float16 (so T5 really ran in float32 and its output was converted once, where the
 * model's own dtype would give other bits), and a float32 model with T5 apart renders diffusers' reference image as
 * it does without.
 */
class T5ApartTest {

    private static final String FLUX = "layouts/flux_dev";
    private static final String SD35 = "layouts/sd35";

    @Test
    void fluxT5ContextIsTheFloat32OneRoundedOnce() {
        Fixtures.require(FLUX + "/model");
        checkContext(FLUX, c -> ((FluxConditioning) c).context());
    }

    @Test
    void sd35T5ContextIsTheFloat32OneRoundedOnce() {
        Fixtures.require(SD35 + "/model");
        // the context is [CLIP (77 tokens) ; T5]: only the T5 rows come from the encoder kept apart
        checkContext(SD35, c -> ((Sd3Conditioning) c).context().get(":, 77:, :"));
    }

    @Test
    void float32ModelsWithT5ApartRenderTheReference() {
        for (String fixture : new String[] {FLUX, SD35}) {
            Fixtures.require(fixture + "/model");
            Path c = Fixtures.root().resolve(fixture);
            JsonNode meta = Fixtures.meta(c);
            LoadOptions apart = LoadOptions.cpu().withT5Device(Device.cpu());
            try (DiffusionPipeline base = Pipelines.open(c.resolve("model"), apart);
                    SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                    NDManager job = NDManager.newBaseManager(Device.cpu())) {
                DiffusionPipeline pipe = withLength(base, meta);
                NDArray image = pipe.render(request(meta).withSize(meta.get("width").asInt(),
                        meta.get("height").asInt()), job, GenerationListener.NONE).image();
                double e = Close.assertMaxAbs(fixture + " T5 apart", Close.toDouble(io.toFloatArray("image")),
                        Close.toDouble(image.toFloatArray()), 2e-3);
                Close.report(String.format("%s with T5 apart: image max|diff| %.3e", fixture, e));
            }
        }
    }

    private static void checkContext(String fixture, Function<Conditioning, NDArray> t5Part) {
        Path c = Fixtures.root().resolve(fixture);
        GenerationRequest r = request(Fixtures.meta(c));
        LoadOptions halfApart = new LoadOptions(Device.cpu(), DataType.FLOAT16, null, null).withT5Device(Device.cpu());
        JsonNode meta = Fixtures.meta(c);
        try (DiffusionPipeline full = Pipelines.open(c.resolve("model"), LoadOptions.cpu());
                DiffusionPipeline half = Pipelines.open(c.resolve("model"), halfApart);
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            NDArray want = t5Part.apply(withLength(full, meta).architecture().encode(job, r).positive());
            NDArray got = t5Part.apply(withLength(half, meta).architecture().encode(job, r).positive());
            assertEquals(DataType.FLOAT16, got.getDataType(), "the context joins the model's dtype");
            assertArrayEquals(want.toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).toFloatArray(),
                    got.toType(DataType.FLOAT32, false).toFloatArray(), 0f,
                    fixture + ": T5 kept apart must run in float32");
        }
    }

    /** The T5 context length the reference ran with. */
    private static DiffusionPipeline withLength(DiffusionPipeline base, JsonNode meta) {
        int length = meta.get("max_sequence_length").asInt();
        return base.architecture() instanceof FluxFamily ? FluxFamily.withMaxSequenceLength(base, length)
                : StableDiffusion3Family.withMaxSequenceLength(base, length);
    }

    private static GenerationRequest request(JsonNode meta) {
        return GenerationRequest.of(meta.get("prompt").asText(), meta.path("negative_prompt").asText(""), 64, 64,
                meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                meta.get("seed").asLong());
    }
}
