package dev.jdiffuse.server.sdapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.images.A1111LevelDrop;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.jobs.GenerationParameters;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.web.ApiException;
import io.javalin.http.Context;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.List;

/**
 * {@code POST /sdapi/v1/txt2img} and {@code img2img}: the A1111 body mapped ({@link SdApiMapping}) to one native job
 * per image, each queued through {@link HttpApi#accept} (the caller's auth, quotas, budgets and turn in the queue,
 * as a native request), the request thread blocking until the last has ended (A1111 is synchronous). Images of one
 * batch are queued together (one at a time when the key has a limit on jobs at once), the next batch once they end.
 */
final class SdApiGenerate {

    private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss")
            .withZone(ZoneOffset.UTC);

    private final HttpApi api;
    private final SdApiModels models;
    private final SdApiRuns runs;
    private final ObjectMapper mapper;
    private final SecureRandom random = new SecureRandom();

    SdApiGenerate(HttpApi api, SdApiModels models, SdApiRuns runs, ObjectMapper mapper) {
        this.api = api;
        this.models = models;
        this.runs = runs;
        this.mapper = mapper;
    }

    ObjectNode run(Context ctx, JsonNode body, boolean img2img) {
        A1111Request r = A1111Request.parse(body, img2img);
        SdApiMapping.refuseUnsupported(r);
        Caller caller = Authenticator.caller(ctx);
        String model = r.override("sd_model_checkpoint") != null
                ? models.resolve(r.override("sd_model_checkpoint").asText(), "override_settings.sd_model_checkpoint")
                : models.defaultFor(caller.name());
        if (model == null) {
            throw new SdApiError(503, "not_ready", "no model is loaded", null,
                    mapper.getNodeFactory().textNode("no model is loaded"), null);
        }
        String init = null;
        String mask = null;
        try {
            if (img2img) {
                JsonNode images = r.node("init_images");
                if (!images.isArray() || images.isEmpty()) {
                    throw SdApiError.invalid("init_images", "img2img needs init_images: a list of base64 images");
                }
                init = store(images.get(0), "init_images[0]", false);
                if (r.str("mask") != null && !r.str("mask").isEmpty()) {
                    mask = store(r.node("mask"), "mask", r.integer("inpainting_mask_invert") == 1);
                }
            }
            SdApiMapping.Plan plan = SdApiMapping.plan(r, model, models.space(model), models.sizeMultiple(model),
                    models.isFlux(model), models.takesClipSkip(model) ? models.clipSkip(caller.name()) : 1, api.limits().maxBatch(), init, mask,
                    random);
            List<Job> done = execute(ctx, caller, plan);
            return answer(r, plan, done);
        } finally {
            // the images sent inline live as long as the request: every job that reads them has ended
            if (init != null) {
                api.discardImage(init);
            }
            if (mask != null) {
                api.discardImage(mask);
            }
        }
    }

    /** A base64 image (with or without a {@code data:} prefix) checked and kept as an upload; its id. */
    private String store(JsonNode node, String field, boolean invert) {
        if (!node.isTextual()) {
            throw SdApiError.type(field, "str");
        }
        String s = node.asText().trim();
        if (s.startsWith("data:")) {
            int comma = s.indexOf(',');
            s = comma < 0 ? "" : s.substring(comma + 1);
        }
        byte[] bytes;
        try {
            bytes = Base64.getMimeDecoder().decode(s);
        } catch (IllegalArgumentException e) {
            throw SdApiError.invalid(field, "not valid base64");
        }
        try {
            var upload = api.storeImage(bytes);
            if (!invert) {
                return upload.id();
            }
            api.discardImage(upload.id());
            // inpainting_mask_invert: A1111 inverts the mask (ImageOps.invert), so black is repainted
            BufferedImage m = upload.image();
            BufferedImage inv = new BufferedImage(m.getWidth(), m.getHeight(), BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < m.getHeight(); y++) {
                for (int x = 0; x < m.getWidth(); x++) {
                    inv.setRGB(x, y, ~m.getRGB(x, y) & 0xFFFFFF);
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(inv, "png", out);
            return api.storeImage(out.toByteArray()).id();
        } catch (ApiException e) {
            throw SdApiError.of(e.status(), e.body().error().code(), e.getMessage(), field, null,
                    e.retryAfterSeconds());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Queues and awaits every image; returns the jobs that ended (in image order). */
    private List<Job> execute(Context ctx, Caller caller, SdApiMapping.Plan plan) {
        SdApiRuns.Run run = runs.start(caller.name(), plan.images());
        int window = caller.maxActive() > 0 ? 1 : plan.batchSize();
        Deque<Job> inFlight = new ArrayDeque<>();
        boolean ok = false;
        try {
            for (int i = 0; i < plan.images() && !run.interrupted; i++) {
                // a batch's images together; the next batch once they have ended
                boolean nextBatch = i > 0 && i % plan.batchSize() == 0;
                while (!inFlight.isEmpty() && (nextBatch || inFlight.size() >= window)) {
                    check(run, await(inFlight.pollFirst()), plan);
                }
                if (run.interrupted) {
                    break;
                }
                Job job;
                runs.submitting(run); // the job joins the run as it is accepted, before it can start
                try {
                    job = api.accept(ctx, plan.image(i));
                } catch (ApiException e) {
                    throw SdApiError.of(e, plan.guidanceField());
                } finally {
                    runs.submitted();
                }
                inFlight.addLast(job);
            }
            while (!inFlight.isEmpty()) {
                check(run, await(inFlight.pollFirst()), plan);
            }
            ok = true;
            return List.copyOf(run.jobs);
        } finally {
            if (!ok) {
                runs.abandon(run);
            }
            runs.finish(run);
        }
    }

    private Job await(Job job) {
        return runs.awaitEnd(job, () -> new SdApiError(503, "shutting_down", "the request was stopped", null,
                mapper.getNodeFactory().textNode("the request was stopped"), null));
    }

    /**
     * A failed image fails the request (its error in A1111's dialect); one cancelled by {@code /interrupt} or a
     * DELETE of its job stops the request, which answers with the images made so far (A1111's interrupt); one
     * cancelled by {@code /skip} is left out and the request goes on; a deadline or shutdown fails it.
     */
    private void check(SdApiRuns.Run run, Job job, SdApiMapping.Plan plan) {
        if (job.status() == JobStatus.SUCCEEDED) {
            return;
        }
        Job.Error err = job.outcome().map(Job.Outcome::error).orElse(null);
        if (job.status() == JobStatus.CANCELLED) {
            if (run.skipped.contains(job.id())) {
                return;
            }
            if (run.interrupted || err == null || "cancelled".equals(err.code())) {
                runs.interrupt(run);
                return;
            }
        }
        String code = err == null ? "failed" : err.code();
        String message = err == null ? "the generation failed" : err.message();
        int status = job.status() == JobStatus.CANCELLED ? 503 : err != null && err.field() != null ? 400 : 500;
        throw SdApiError.of(status, code, message, err == null ? null : err.field(), plan.guidanceField(), null);
    }

    /** {@code {images, parameters, info}} as A1111's {@code TextToImageResponse}. */
    private ObjectNode answer(A1111Request r, SdApiMapping.Plan plan, List<Job> jobs) {
        List<Job> made = jobs.stream().filter(j -> j.status() == JobStatus.SUCCEEDED).toList();
        ObjectNode out = mapper.createObjectNode();
        var images = out.putArray("images");
        List<String> infotexts = new ArrayList<>();
        for (Job j : made) {
            GenerationParameters p = j.parameters();
            infotexts.add(ImageMetadata.infotext(p, 0));
            if (r.bool("send_images")) {
                byte[] png = api.jobs().image(j, 0).orElseThrow(() -> new SdApiError(500, "image_dropped",
                        "an image is no longer held (the result memory budget dropped it)", null,
                        mapper.getNodeFactory().textNode("an image was dropped"), null));
                images.add(Base64.getEncoder().encodeToString(png));
            }
        }
        out.set("parameters", r.echo());
        out.put("info", info(r, plan, made, infotexts));
        return out;
    }

    /** A1111's {@code Processed.js()}: the request as run, per-image seeds and infotexts. */
    private String info(A1111Request r, SdApiMapping.Plan plan, List<Job> made, List<String> infotexts) {
        ObjectNode i = mapper.createObjectNode();
        GenerationParameters first = made.isEmpty() ? null : made.get(0).parameters();
        String prompt = r.str("prompt");
        String negative = r.str("negative_prompt");
        i.put("prompt", prompt);
        var allPrompts = i.putArray("all_prompts");
        i.put("negative_prompt", negative);
        var allNegative = i.putArray("all_negative_prompts");
        i.put("seed", plan.seed());
        var seeds = i.putArray("all_seeds");
        i.put("subseed", plan.subseed() == null ? -1L : plan.subseed());
        var subseeds = i.putArray("all_subseeds");
        i.put("subseed_strength", r.number("subseed_strength"));
        for (Job j : made) {
            GenerationParameters p = j.parameters();
            allPrompts.add(prompt);
            allNegative.add(negative);
            seeds.add(p.seed());
            subseeds.add(p.subseed() != null ? p.subseed() : -1L);
        }
        i.put("width", r.integer("width"));
        i.put("height", r.integer("height"));
        i.put("sampler_name", first != null ? SamplerCatalog.samplerLabel(first.sampler())
                : SamplerCatalog.samplerLabel(plan.template().sampler()));
        if (plan.flux()) {
            // as Forge reports FLUX: cfg_scale is the real CFG that ran (1: none), the embedded scale apart
            Double trueCfg = first != null ? first.trueCfgScale() : plan.template().trueCfgScale();
            i.put("cfg_scale", trueCfg != null ? trueCfg : 1.0);
            i.put("distilled_cfg_scale", first != null ? first.guidanceScale() : r.number("distilled_cfg_scale"));
        } else {
            i.put("cfg_scale", first != null ? first.guidanceScale() : r.number("cfg_scale"));
        }
        i.put("steps", r.integer("steps"));
        i.put("batch_size", plan.batchSize());
        i.put("restore_faces", false);
        i.putNull("face_restoration_model");
        i.put("sd_model_name", plan.model());
        String hash = first != null ? first.modelHash() : models.hash(plan.model());
        i.put("sd_model_hash", hash);
        i.putNull("sd_vae_name");
        i.putNull("sd_vae_hash");
        i.put("seed_resize_from_w", -1);
        i.put("seed_resize_from_h", -1);
        if (r.img2img || r.bool("enable_hr")) {
            i.put("denoising_strength", r.number("denoising_strength"));
        } else {
            i.putNull("denoising_strength");
        }
        ObjectNode extra = i.putObject("extra_generation_params");
        if (first != null) {
            extra.put("Schedule type", SamplerCatalog.scheduleLabel(first.schedule()));
            if (ImageMetadata.forcedLevelDrop(first)) {
                extra.put(A1111LevelDrop.INFOTEXT_KEY, true); // A1111's p.extra_generation_params under the setting
            }
        }
        i.put("index_of_first_image", 0);
        var texts = i.putArray("infotexts");
        infotexts.forEach(texts::add);
        i.putArray("styles");
        i.put("job_timestamp", TIMESTAMP.format(made.isEmpty() ? java.time.Instant.now()
                : made.get(0).createdAt()));
        i.put("clip_skip", first != null ? first.clipSkip() : 1);
        i.put("is_using_inpainting_conditioning", false);
        i.put("version", "jdiffuse " + ImageMetadata.VERSION);
        var ids = i.putArray("job_ids");
        made.forEach(j -> ids.add(j.id()));
        try {
            return mapper.writeValueAsString(i);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
