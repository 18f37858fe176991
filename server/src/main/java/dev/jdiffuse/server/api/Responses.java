package dev.jdiffuse.server.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.server.jobs.JobView;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelInfo;
import dev.jdiffuse.server.models.ModelListing;

import java.util.List;
import java.util.Locale;

/** The JSON bodies of the REST endpoints (docs/api.md), as records; job records are {@link JobView}. */
final class Responses {

    private Responses() {
    }

    /** 202 of {@code POST /v1/generations}. */
    record Accepted(String id, String status, Integer position, long seed, JobView.Links links) {
    }

    /** 201 of {@code POST /v1/uploads}. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Upload(String id, int width, int height, String format, long expiresInS) {
    }

    /**
     * {@code GET /v1/models}: this server's {@code default} and {@code models}, and beside them OpenAI's list shape
     * ({@code object: "list"}, {@code data: [{id, object: "model", created, owned_by}]}), which the {@code openai}
     * SDKs' {@code models.list()} and OpenAI-compatible clients' connection checks read from the same route.
     */
    record Models(@JsonProperty("default") String defaultModel, List<Model> models, String object,
            List<OpenAiModel> data) {

        static Models of(String defaultModel, List<Model> models) {
            return new Models(defaultModel, models, "list",
                    models.stream().map(m -> new OpenAiModel(m.name(), "model", 0, "jdiffuse")).toList());
        }
    }

    /** One model in OpenAI's shape ({@code created} 0: the server does not know when the weights were made). */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record OpenAiModel(String id, String object, long created, String ownedBy) {
    }

    /**
     * One model of the folder: whether it is {@code loaded} now, its {@code state} (unloaded, loading, loaded,
     * failed), the {@code error} that kept it from loading, the size of its weight files, and once it has loaded
     * (even if evicted since) its hash and the values its requests take when they omit them. {@code family} is a
     * guess from its configs until it has loaded. {@code devices}: the devices it is loaded on now.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Model(String name, String family, String sha256, String hash, Integer pixelsPerLatent, Integer sizeMultiple,
            Defaults defaults,
            List<String> controlnets, List<String> samplers, boolean loaded, String state,
            @JsonInclude(JsonInclude.Include.NON_NULL) String error, long bytes, List<String> devices) {

        static Model of(ModelListing m) {
            ModelInfo i = m.info();
            String sha = i == null ? null : i.sha256();
            return new Model(m.name(), m.family(), sha, sha == null ? null : LoadedModel.shortHash(sha),
                    i == null ? null : i.pixelsPerLatent(), i == null ? null : i.sizeMultiple(),
                    i == null ? null : Defaults.of(i.defaults()),
                    i == null ? List.of() : i.controlnets(), i == null ? List.of() : i.samplers(), m.loaded(),
                    m.state().name().toLowerCase(Locale.ROOT),
                    m.error(), m.bytes(), m.devices());
        }
    }

    record Loras(List<Lora> loras) {
    }

    /** The {@code --embeddings} folder: usable embeddings, and files skipped by name with the reason. */
    record Embeddings(List<Embedding> embeddings, java.util.Map<String, String> skipped) {
    }

    /**
     * One textual-inversion embedding: the name prompts use, how many tokens it takes, the widths of its vector
     * tables (768: SD 1.x, 1024: SD 2.x, [768, 1280]: SDXL) and AUTOMATIC1111's short hash.
     */
    record Embedding(String name, int vectors, List<Integer> widths, String hash) {
    }

    /**
     * One LoRA of the {@code --loras} folder: {@code hash} is AUTOMATIC1111's short hash (the one image metadata
     * records), {@code sha256} the whole file's; {@code family} the model family it was trained for where the file
     * tells (else null), {@code targets} the model parts it adapts, {@code rank} its largest rank.
     */
    record Lora(String name, String hash, String sha256, String format, String family, List<String> targets,
            long rank, int layers) {
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Defaults(String sampler, String schedule, int steps, int width, int height, double guidanceScale) {

        static Defaults of(PipelineDefaults d) {
            return new Defaults(d.sampler(), d.schedule(), d.steps(), d.width(), d.height(), d.guidanceScale());
        }
    }

    /** {@code GET /v1/samplers}: the sampler table and the schedule table. */
    record Catalog(List<Entry> samplers, List<Entry> schedules) {

        static Catalog of() {
            return new Catalog(SamplerCatalog.SAMPLERS.stream()
                    .map(e -> new Entry(e.name(), e.label(), group(e), e.stochastic(), e.sigmaSpaced(), null,
                            e.needsUnconditional() ? Boolean.TRUE : null, params(e.parameters()))).toList(),
                    SamplerCatalog.SCHEDULES.stream()
                            .map(s -> new Entry(s.name(), s.label(), null, false, null, s.needsSigmaSpaced(), null,
                                    params(s.parameters()))).toList());
        }

        /** "diffusers" (reproduces a diffusers scheduler class), "CFG++", or "k-diffusion" (ComfyUI's and A1111's). */
        private static String group(SamplerCatalog.Entry e) {
            return e.needsUnconditional() ? "CFG++" : e.reproducesClass() ? "diffusers" : "k-diffusion";
        }

        private static List<Param> params(List<SamplerCatalog.Param> ps) {
            return ps.stream().map(p -> new Param(p.name(), p.defaultValue(), p.min(), p.max(), p.description()))
                    .toList();
        }
    }

    /**
     * A sampler or schedule: API name, A1111 label, whether it injects fresh noise each step, its parameters; a sampler
     * says whether it walks a sigma schedule a schedule may respace ({@code sigma_spaced}), a schedule whether it needs
     * such a sampler ({@code needs_sigma_spaced}); the other field is absent. A CFG++ sampler has {@code cfg_pp: true}
     * (it is run at guidance scales around 1). A sampler's {@code group} says where it comes from.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Entry(String name, String label, String group, boolean stochastic, Boolean sigmaSpaced,
            Boolean needsSigmaSpaced,
            @JsonProperty("cfg_pp") Boolean cfgPp, List<Param> parameters) {
    }

    /** A tunable parameter with its default and range. */
    record Param(String name, @JsonProperty("default") double defaultValue,
            double min, double max, String description) {
    }

    /** {@code POST /v1/schedule}: the exact noise levels a request would visit. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Schedule(String model, String sampler, String schedule, int steps, double[] sigmas, double[] timesteps,
            double initNoiseSigma) {
    }

    /** {@code GET /readyz}. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Readiness(String status, int models, int queueDepth,
            @JsonInclude(JsonInclude.Include.NON_NULL) String reason) {
    }

    /** {@code GET /v1/generations}: job records, newest first. */
    record Generations(List<JobView> generations) {
    }

    /** {@code GET /v1/whoami}: the caller's key name, role, quotas (0: none) and priority class. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record WhoAmI(String name, boolean admin, int maxQueued, int imagesPerHour, String priority) {
    }

    /** {@code GET /healthz}. */
    record Health(String status) {
    }
}
