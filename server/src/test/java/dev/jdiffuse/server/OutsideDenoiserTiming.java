package dev.jdiffuse.server;

import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.server.images.PngEncoder;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A timing, not a check (run with {@code -Djdiffuse.timing=true}): where a generation's time goes outside the
 * denoiser on the CPU with the tiny SD 1.x fixture. Prints, per configuration, the mean of the pipeline's own
 * encode/denoise/decode timings, the wall time of {@code generate} and the rest (outside the three), the PNG encoding
 * of the image (now on its own threads), and the server's submit-to-all-done time for 8 jobs queued at once.
 */
@EnabledIfSystemProperty(named = "jdiffuse.timing", matches = "true")
class OutsideDenoiserTiming {

    private static final int RUNS = 12;

    @Test
    void timings() throws Exception {
        Fixtures.require("pipeline_sd1/model");
        for (String cache : List.of("0", "32")) {
            System.setProperty("jdiffuse.prompt.cache", cache);
            Path models = Files.createTempDirectory("jdiffuse-models");
            TestServer.linkFixture(models, "tiny-sd1", "pipeline_sd1/model");
            ModelRegistry registry = ModelRegistry.load(models, ModelLoaders.production(), "cpu", "fp32");
            LoadedModel model = registry.all().iterator().next();
            pipelineTimings("prompt cache " + cache, model.pipeline());
            try (TestServer ts = new TestServer(ServerOptions.defaults(), registry)) {
                String body = "{\"model\":\"tiny-sd1\",\"prompt\":\"a red apple on a wooden table\","
                        + "\"negative_prompt\":\"blurry\",\"width\":128,\"height\":128,\"steps\":6,"
                        + "\"sampler\":\"euler\",\"guidance_scale\":7.5,\"seed\":SEED}";
                ts.await(ts.submit(body.replace("SEED", "1")), Duration.ofSeconds(120));
                long t0 = System.nanoTime();
                List<String> ids = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    ids.add(ts.submit(body.replace("SEED", Integer.toString(100 + i))));
                }
                for (String id : ids) {
                    ts.await(id, Duration.ofSeconds(300));
                    ts.get("/v1/generations/" + id + "/images/0");
                }
                System.out.printf("TIMING prompt cache %s: server, 8 jobs queued at once, submit to last PNG "
                        + "fetched: %.1f ms%n", cache, (System.nanoTime() - t0) / 1e6);
            }
        }
    }

    private static void pipelineTimings(String label, ImagePipeline pipe) {
        GenerationRequest r = GenerationRequest.of("a red apple on a wooden table", "blurry", 128, 128, 6, 7.5, 1)
                .withSampler("euler", "default");
        for (int i = 0; i < 3; i++) {
            pipe.generate(r, GenerationListener.NONE);
        }
        double wall = 0;
        double enc = 0;
        double den = 0;
        double dec = 0;
        double png = 0;
        for (int i = 0; i < RUNS; i++) {
            long t0 = System.nanoTime();
            GenerationResult g = pipe.generate(r, GenerationListener.NONE);
            wall += (System.nanoTime() - t0) / 1e6;
            enc += g.encodeMillis();
            den += g.denoiseMillis();
            dec += g.decodeMillis();
            long p0 = System.nanoTime();
            PngEncoder.encode(g.images().get(0));
            png += (System.nanoTime() - p0) / 1e6;
        }
        System.out.printf("TIMING %s: generate %.1f ms = encode %.1f + denoise %.1f + decode %.1f + outside "
                + "%.1f ms; PNG encode %.1f ms (mean of %d runs, 128x128, 6 Euler steps, CFG)%n", label, wall / RUNS,
                enc / RUNS, den / RUNS, dec / RUNS, (wall - enc - den - dec) / RUNS, png / RUNS, RUNS);
    }
}
