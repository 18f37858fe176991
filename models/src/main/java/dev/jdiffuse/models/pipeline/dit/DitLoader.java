package dev.jdiffuse.models.pipeline.dit;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.dit.DiTConfig;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FreshWeights;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.SchedulerSelection;
import dev.jdiffuse.models.pipeline.Vaes;
import dev.jdiffuse.models.vae.AutoencoderKL;

import java.nio.file.Path;

/** Opens class-conditional DiT diffusers folders. */
public final class DitLoader {

    private DitLoader() {
    }

    /**
     * Opens a diffusers folder ({@code model_index.json} with an optional {@code id2label}, {@code transformer/},
     * {@code vae/}, {@code scheduler/}).
     */
    public static DiffusionPipeline openFolder(Path folder, String name, LoadOptions o) {
        return FreshWeights.load(o.device(), weights -> {
            DiTTransformer2DModel transformer = DiTTransformer2DModel.load(folder.resolve("transformer"), weights,
                    o.dtype());
            DiTConfig tc = transformer.config();
            if (tc.outChannels() != tc.inChannels() && tc.outChannels() != 2 * tc.inChannels()) {
                throw new ConfigException(folder.resolve("transformer/config.json").toString(), "out_channels",
                        "must be in_channels (" + tc.inChannels() + ") or twice that (learned sigma), not "
                        + tc.outChannels());
            }
            AutoencoderKL vae = Vaes.open(folder.resolve("vae"), weights, o.dtype(), tc.inChannels());
            Path schedulerConfig = folder.resolve("scheduler/scheduler_config.json");
            SchedulerSelection scheduler = SchedulerSelection.read(schedulerConfig);
            if (scheduler.isFlow()) {
                throw new ConfigException(schedulerConfig.toString(), "_class_name",
                        "DiT is a diffusion (epsilon) model, not a flow model");
            }
            JsonNode index = ConfigJson.read(folder.resolve("model_index.json")).node();
            JsonNode id2label = index.has("id2label") ? index.get("id2label")
                    : ConfigJson.read(folder.resolve("transformer/config.json")).node().get("id2label");
            DitClassLabels labels = DitClassLabels.of(id2label, tc.numEmbedsAdaNorm());
            return new DiffusionPipeline(name, weights, new DiTFamily(transformer, labels, vae.config().downscale()),
                    vae, scheduler, o.taesd());
        });
    }
}
