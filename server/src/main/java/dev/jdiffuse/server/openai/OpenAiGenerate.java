package dev.jdiffuse.server.openai;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.jobs.JobView;
import dev.jdiffuse.server.sdapi.SdApiRuns;
import dev.jdiffuse.server.web.ApiException;
import io.javalin.http.Context;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.List;

/**
 * {@code POST /v1/images/generations} and {@code edits}: one native job per image queued through
 * {@link HttpApi#accept} (the caller's auth, quotas, budgets and turn in the queue, as a native request), the request
 * thread waiting on them as the A1111 layer does ({@link SdApiRuns}); all {@code n} are queued together, one at a
 * time when the key has a limit on jobs at once. Any image failing fails the request (its queued and running siblings are cancelled).
 */
final class OpenAiGenerate {

    private final HttpApi api;
    private final SdApiRuns runs;
    private final ObjectMapper mapper;

    OpenAiGenerate(HttpApi api, SdApiRuns runs, ObjectMapper mapper) {
        this.api = api;
        this.runs = runs;
        this.mapper = mapper;
    }

    ObjectNode run(Context ctx, OpenAiImageRequest r) {
        List<Job> done = execute(ctx, r);
        return answer(ctx, r, done);
    }

    private List<Job> execute(Context ctx, OpenAiImageRequest r) {
        Caller caller = Authenticator.caller(ctx);
        SdApiRuns.Run run = runs.start(caller.name(), r.n());
        int window = caller.maxActive() > 0 ? 1 : r.n();
        Deque<Job> inFlight = new ArrayDeque<>();
        List<Job> jobs = new ArrayList<>();
        boolean ok = false;
        try {
            for (int i = 0; i < r.n(); i++) {
                while (inFlight.size() >= window) {
                    check(await(inFlight.pollFirst()), r);
                }
                Job job;
                runs.submitting(run); // the job joins the run as it is accepted, before it can start
                try {
                    job = api.accept(ctx, r.image(i));
                } catch (ApiException e) {
                    throw OpenAiError.of(e, r.guidanceField());
                } finally {
                    runs.submitted();
                }
                jobs.add(job);
                inFlight.addLast(job);
            }
            while (!inFlight.isEmpty()) {
                check(await(inFlight.pollFirst()), r);
            }
            ok = true;
            return jobs;
        } finally {
            if (!ok) {
                runs.abandon(run);
            }
            runs.finish(run);
        }
    }

    private Job await(Job job) {
        return runs.awaitEnd(job, () -> new OpenAiError(503, "shutting_down", "the request was stopped", null, null));
    }

    /** A failed or cancelled image fails the request with its error (400 when it names a field, else 500/503). */
    private static void check(Job job, OpenAiImageRequest r) {
        if (job.status() == JobStatus.SUCCEEDED) {
            return;
        }
        Job.Error err = job.outcome().map(Job.Outcome::error).orElse(null);
        String code = err == null ? (job.status() == JobStatus.CANCELLED ? "cancelled" : "failed") : err.code();
        String message = err == null ? "the generation " + (job.status() == JobStatus.CANCELLED ? "was cancelled"
                : "failed") : err.message();
        int status = job.status() == JobStatus.CANCELLED ? 503 : err != null && err.field() != null ? 400 : 500;
        String field = err == null ? null : err.field();
        throw OpenAiError.of(new ApiException(status, code, message, field), r.guidanceField());
    }

    /** {@code {created, data: [{b64_json | url, revised_prompt?}], output_format, size}}. */
    private ObjectNode answer(Context ctx, OpenAiImageRequest r, List<Job> jobs) {
        ObjectNode out = mapper.createObjectNode();
        out.put("created", jobs.get(0).createdAt().getEpochSecond());
        var data = out.putArray("data");
        String origin = r.url() ? origin(ctx) : null;
        for (Job j : jobs) {
            ObjectNode item = data.addObject();
            if (r.url()) {
                item.put("url", origin + JobView.imageUrls(j).get(0));
            } else {
                byte[] png = api.jobs().image(j, 0).orElseThrow(() -> new OpenAiError(500, "image_dropped",
                        "an image is no longer held (the result memory budget dropped it)", null, null));
                item.put("b64_json", Base64.getEncoder().encodeToString(png));
            }
            // OpenAI's revised_prompt: the prompt as used, when it differs (LoRA tags are taken out of it)
            String used = j.parameters().prompt();
            if (used != null && !used.equals(r.template().prompt())) {
                item.put("revised_prompt", used);
            }
        }
        var p = jobs.get(0).parameters();
        out.put("output_format", "png");
        out.put("size", p.width() + "x" + p.height());
        return out;
    }

    /** {@code scheme://host[:port]} as the client addressed this server (its Host header). */
    private static String origin(Context ctx) {
        String host = ctx.host();
        if (host == null || host.isBlank()) {
            host = ctx.req().getServerName() + ":" + ctx.req().getServerPort();
        }
        return ctx.scheme() + "://" + host;
    }
}
