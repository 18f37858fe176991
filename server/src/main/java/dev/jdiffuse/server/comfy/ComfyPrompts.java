package dev.jdiffuse.server.comfy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobEvents;
import dev.jdiffuse.server.jobs.JobManager;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.stream.Frame;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * ComfyUI's prompt queue over the native one: each accepted prompt's jobs, its place ({@code queue_running} once one
 * of its jobs has started, else {@code queue_pending}), then its history entry ({@code {prompt, outputs, status,
 * meta}}, the latest {@link #MAX_HISTORY} kept), the names its images are served under by {@code /view}, and the
 * WebSocket messages ComfyUI's {@code execution.py} sends, driven by the native job events (no polling):
 * {@code execution_start}, {@code execution_cached}, {@code executing} (the sampler node when its job starts, each
 * output node before its {@code executed}), {@code progress} per step, {@code executed} with the images,
 * {@code execution_success} / {@code execution_error} / {@code execution_interrupted}, then {@code executing} with
 * node null (what ComfyUI's example client waits for), and a {@code status} to every client when the queue changes.
 */
final class ComfyPrompts implements JobEvents {

    static final int MAX_HISTORY = 1000;

    /** One image served by {@code /view}: a job's image, its owner. */
    record Image(String jobId, int index, String owner) {
    }

    /** One accepted prompt. */
    final class Prompt {
        final String id;
        final long number;
        final String owner;
        final String clientId;
        final JsonNode graph;
        final ObjectNode extraData;
        final ComfyGraph checked;
        final ComfyPlan plan;
        final List<Job> jobs = new ArrayList<>();
        final Set<String> started = new HashSet<>();
        final Set<String> ended = new HashSet<>();
        /** Jobs with a progress message sent (so a job that ran before it was attached gets one replayed). */
        final Set<String> progressed = new HashSet<>();
        final ArrayNode messages;
        final ObjectNode outputs;
        /** The {@code /view} keys of its images, forgotten with its history entry. */
        final List<String> imageKeys = new ArrayList<>();
        /** Uploads made for its jobs (masks), dropped once they have ended. */
        final List<String> temporary = new ArrayList<>();
        boolean submitted;
        boolean failed;
        boolean interrupted;
        boolean done;

        Prompt(String id, long number, String owner, String clientId, JsonNode graph, ObjectNode extraData,
                ComfyGraph checked, ComfyPlan plan) {
            this.id = id;
            this.number = number;
            this.owner = owner;
            this.clientId = clientId;
            this.graph = graph;
            this.extraData = extraData;
            this.checked = checked;
            this.plan = plan;
            this.messages = mapper.createArrayNode();
            this.outputs = mapper.createObjectNode();
        }

        synchronized boolean running() {
            return !started.isEmpty();
        }

        /** ComfyUI's queue item {@code [number, prompt_id, prompt, extra_data, outputs_to_execute]}. */
        ArrayNode item() {
            ArrayNode a = mapper.createArrayNode();
            a.add(number);
            a.add(id);
            a.add(graph);
            a.add(extraData);
            ArrayNode outs = a.addArray();
            plan.outputs.forEach(o -> outs.add(o.node()));
            return a;
        }

        void send(String type, ObjectNode data, Frame.Kind kind, String key) {
            sockets.send(clientId, owner, type, data, kind, key);
        }

        /** A status message: recorded in the history entry and sent (ComfyUI's {@code add_message}). */
        void message(String type, ObjectNode data) {
            data.put("timestamp", System.currentTimeMillis());
            ArrayNode m = messages.addArray();
            m.add(type);
            m.add(data);
            send(type, data, Frame.Kind.DURABLE, id);
        }

        ObjectNode data() {
            ObjectNode d = mapper.createObjectNode();
            d.put("prompt_id", id);
            return d;
        }
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ComfyPrompts.class);

    private final ObjectMapper mapper;
    private final JobManager jobs;
    private final ComfySockets sockets;
    private final SecureRandom random = new SecureRandom();
    private final AtomicLong numbers = new AtomicLong();
    /** Accepted prompts that have not ended, in submission order. */
    private final Map<String, Prompt> active = java.util.Collections.synchronizedMap(new LinkedHashMap<>());
    private final Map<String, Prompt> history = new LinkedHashMap<>();
    private final Map<String, Prompt> byJob = new ConcurrentHashMap<>();
    private final Map<String, Image> images = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> counters = new ConcurrentHashMap<>();
    /** Previews waiting for {@link #previewEncoder}, the newest per job. */
    private final Map<String, dev.jdiffuse.models.pipeline.Preview> pendingPreviews = new ConcurrentHashMap<>();
    /** Encodes preview JPEGs off the jobs' worker threads: one daemon thread, gone after a minute idle. */
    private final java.util.concurrent.ThreadPoolExecutor previewEncoder = previewEncoder();

    private final java.util.function.Consumer<String> discard;

    ComfyPrompts(ObjectMapper mapper, JobManager jobs, ComfySockets sockets,
            java.util.function.Consumer<String> discard) {
        this.discard = discard;
        this.mapper = mapper;
        this.jobs = jobs;
        this.sockets = sockets;
        jobs.onEnd(this::ended);
    }

    /** Registers a prompt about to be submitted; null when {@code id} is taken. */
    Prompt open(String id, String owner, String clientId, JsonNode graph, ObjectNode extraData, ComfyGraph checked,
            ComfyPlan plan) {
        synchronized (active) {
            if (active.containsKey(id) || historyEntry(id).isPresent()) {
                return null;
            }
            Prompt p = new Prompt(id, numbers.getAndIncrement(), owner, clientId, graph, extraData, checked, plan);
            active.put(id, p);
            return p;
        }
    }

    /** Records a queued job of {@code p} (its work's index is its position). */
    void attach(Prompt p, Job job) {
        synchronized (p) {
            p.jobs.add(job);
        }
        byJob.put(job.id(), p);
    }

    /** Every job is queued: events that came before they were attached are replayed now. */
    void submitted(Prompt p) {
        List<Job> list;
        synchronized (p) {
            p.submitted = true;
            list = List.copyOf(p.jobs);
        }
        sockets.status(this::remaining);
        for (Job j : list) {
            JobStatus s = j.status();
            if (s != JobStatus.QUEUED && j.startedAt() != null) {
                onStarted(j);
                replayProgress(p, j);
            }
            if (s.terminal()) {
                ended(j);
            }
        }
        finishIfDone(p);
    }

    /** A prompt whose submission failed: its queued jobs are cancelled and it leaves no trace. */
    void abandon(Prompt p) {
        List<Job> list;
        synchronized (p) {
            p.done = true;
            list = List.copyOf(p.jobs);
        }
        list.forEach(j -> byJob.remove(j.id()));
        active.remove(p.id);
        list.forEach(j -> {
            if (!j.status().terminal()) {
                jobs.cancel(j);
            }
        });
        p.temporary.forEach(discard);
    }

    @Override
    public void onStarted(Job job) {
        Prompt p = byJob.get(job.id());
        if (p == null) {
            return;
        }
        synchronized (p) {
            if (p.done || !p.started.add(job.id())) {
                return;
            }
            if (p.started.size() == 1) {
                p.message("execution_start", p.data());
                ObjectNode cached = p.data();
                cached.putArray("nodes");
                p.message("execution_cached", cached);
            }
            String node = work(p, job).sampler();
            p.send("executing", executing(p, node), Frame.Kind.DURABLE, p.id);
        }
        sockets.status(this::remaining);
    }

    @Override
    public void onStep(Job job, int step, double sigma, long elapsedMillis, long etaMillis) {
        Prompt p = byJob.get(job.id());
        if (p != null) {
            progress(p, job, step, false);
        }
    }

    /**
     * Steps that ran before the job was attached (a fast job can run them all, and end, in between): the latest as one
     * progress message, unless the job has had one. Called on submission and at the job's end, before its
     * {@code executed}: whichever thread ends the prompt, the client hears a progress message first.
     */
    private void replayProgress(Prompt p, Job job) {
        int step = job.status() == JobStatus.SUCCEEDED ? job.totalSteps() - 1 : job.progress().step();
        if (step >= 0) {
            progress(p, job, step, true);
        }
    }

    /**
     * Sends a progress message under the prompt's lock, so that it is queued before the prompt's end (sent under the
     * same lock); a replay only if no progress message has gone for the job.
     */
    private void progress(Prompt p, Job job, int step, boolean replay) {
        synchronized (p) {
            if (p.done || !p.progressed.add(job.id()) && replay) {
                return;
            }
            ObjectNode d = mapper.createObjectNode();
            d.put("value", step + 1);
            d.put("max", job.totalSteps());
            d.put("prompt_id", p.id);
            d.put("node", work(p, job).sampler());
            p.send("progress", d, Frame.Kind.PROGRESS, p.id + "/" + job.id());
        }
    }

    /**
     * A decoded preview as ComfyUI's binary {@code PREVIEW_IMAGE} frame: {@code [u32 1][u32 1 = JPEG][JPEG bytes]},
     * big-endian ({@code server.py} {@code send_image}; JPEG quality 95, the long side at most the job's preview size).
     * Called on the job's worker thread, so the JPEG is encoded on this layer's own thread: the newest preview of a
     * job waiting there replaces an older one (as the native streams coalesce), and no step waits for an encoder.
     */
    @Override
    public void onPreview(Job job, dev.jdiffuse.models.pipeline.Preview preview) {
        Prompt p = byJob.get(job.id());
        if (p == null || preview.image() == null || p.clientId == null) {
            return;
        }
        if (pendingPreviews.put(job.id(), preview) == null) {
            try {
                previewEncoder.execute(() -> {
                    dev.jdiffuse.models.pipeline.Preview latest = pendingPreviews.remove(job.id());
                    if (latest != null) {
                        try {
                            sendPreview(p, job, latest);
                        } catch (RuntimeException e) {
                            LOG.warn("ComfyUI preview of job {} not sent: {}", job.id(), e.toString());
                        }
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                pendingPreviews.remove(job.id()); // closing
            }
        }
    }

    private static java.util.concurrent.ThreadPoolExecutor previewEncoder() {
        var ex = new java.util.concurrent.ThreadPoolExecutor(1, 1, 1, java.util.concurrent.TimeUnit.MINUTES,
                new java.util.concurrent.LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "jdiffuse-comfy-previews");
                    t.setDaemon(true);
                    return t;
                });
        ex.allowCoreThreadTimeOut(true);
        return ex;
    }

    private void sendPreview(Prompt p, Job job, dev.jdiffuse.models.pipeline.Preview preview) {
        byte[] jpeg = dev.jdiffuse.server.images.ImageWriting.write("jpeg", writer -> {
            javax.imageio.ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(javax.imageio.ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(0.95f);
            writer.write(null, new javax.imageio.IIOImage(rgb(preview.image()), null, null), param);
        });
        java.nio.ByteBuffer frame = java.nio.ByteBuffer.allocate(8 + jpeg.length);
        frame.putInt(1).putInt(1).put(jpeg);
        sockets.sendBinary(p.clientId, p.owner, frame.array(), p.id + "/" + job.id());
    }

    private static java.awt.image.BufferedImage rgb(java.awt.image.BufferedImage src) {
        if (src.getType() == java.awt.image.BufferedImage.TYPE_INT_RGB) {
            return src;
        }
        java.awt.image.BufferedImage out = new java.awt.image.BufferedImage(src.getWidth(), src.getHeight(),
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        var g = out.createGraphics();
        g.drawImage(src, 0, 0, null);
        g.dispose();
        return out;
    }

    private ObjectNode executing(Prompt p, String node) {
        ObjectNode d = mapper.createObjectNode();
        d.put("node", node);
        d.put("display_node", node);
        d.put("prompt_id", p.id);
        return d;
    }

    private ComfyPlan.Work work(Prompt p, Job job) {
        return p.plan.works.get(p.jobs.indexOf(job));
    }

    /** A job ended (after the manager recorded it and its images). */
    private void ended(Job job) {
        Prompt p = byJob.get(job.id());
        if (p == null) {
            return;
        }
        if (job.startedAt() != null) {
            onStarted(job); // its start event may have come before the job was attached
        }
        if (job.status() == JobStatus.SUCCEEDED) {
            replayProgress(p, job); // and its steps too
        }
        synchronized (p) {
            if (p.done || !p.ended.add(job.id())) {
                return;
            }
            int w = p.jobs.indexOf(job);
            if (job.status() == JobStatus.SUCCEEDED && !p.failed && !p.interrupted) {
                for (ComfyPlan.Output o : p.plan.outputs) {
                    if (o.work() == w) {
                        executed(p, o, job);
                    }
                }
            } else if (job.status() != JobStatus.SUCCEEDED && !p.failed && !p.interrupted) {
                Job.Error err = job.outcome().map(Job.Outcome::error).orElse(null);
                boolean cancelled = job.status() == JobStatus.CANCELLED
                        && (err == null || "cancelled".equals(err.code()));
                ComfyPlan.Work work = p.plan.works.get(w);
                ComfyPlan.Ref ref = work.ref(err == null ? null : err.field());
                ObjectNode d = p.data();
                d.put("node_id", ref.node());
                d.put("node_type", p.checked.classes.get(ref.node()));
                d.putArray("executed");
                if (cancelled) {
                    p.interrupted = true;
                    p.message("execution_interrupted", d);
                } else {
                    p.failed = true;
                    d.put("exception_message", (ref.input() != null ? ref.input() + ": " : "")
                            + (err == null ? "the generation " + job.status().apiName() : err.message()));
                    d.put("exception_type", "jdiffuse." + (err == null ? job.status().apiName() : err.code()));
                    d.putArray("traceback");
                    ObjectNode inputs = d.putObject("current_inputs");
                    if (ref.input() != null) {
                        inputs.put("input_name", ref.input());
                    }
                    d.putArray("current_outputs");
                    p.message("execution_error", d);
                }
                p.jobs.stream().filter(j -> !j.status().terminal()).forEach(jobs::cancel);
            }
        }
        finishIfDone(p);
    }

    /** Names the job's images for output {@code o} and tells the client ({@code executing}, {@code executed}). */
    private void executed(Prompt p, ComfyPlan.Output o, Job job) {
        ArrayNode list = mapper.createArrayNode();
        // ComfyUI's %width%, %year%, ... filled in as it saves (the job's size, the server's local time)
        var params = job.parameters();
        java.time.ZonedDateTime now = java.time.ZonedDateTime.now();
        String subfolder = SavePathVars.fill(o.subfolder(), params.width(), params.height(), now);
        String named = SavePathVars.fill(o.prefix(), params.width(), params.height(), now);
        boolean temp = o.type().equals("temp");
        String prefix = temp ? named + "_" + randomLetters() : named;
        // a temp prefix is random, so its numbering needs no memory (a kept counter per preview grew without end)
        AtomicLong counter = temp ? new AtomicLong(1) : counters.computeIfAbsent(o.type() + "/" + subfolder + "/"
                + prefix, k -> new AtomicLong(1));
        for (int i = 0; i < job.imageCount(); i++) {
            String filename = String.format(java.util.Locale.ROOT, "%s_%05d_.png", prefix, counter.getAndIncrement());
            String key = key(filename, subfolder, o.type());
            images.put(key, new Image(job.id(), i, p.owner));
            p.imageKeys.add(key);
            ObjectNode img = list.addObject();
            img.put("filename", filename);
            img.put("subfolder", subfolder);
            img.put("type", o.type());
        }
        ObjectNode out = mapper.createObjectNode();
        out.set("images", list);
        p.outputs.set(o.node(), out);
        p.send("executing", executing(p, o.node()), Frame.Kind.DURABLE, p.id);
        ObjectNode d = mapper.createObjectNode();
        d.put("node", o.node());
        d.put("display_node", o.node());
        d.set("output", out);
        d.put("prompt_id", p.id);
        p.send("executed", d, Frame.Kind.DURABLE, p.id);
    }

    private String randomLetters() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 5; i++) {
            b.append((char) ('a' + random.nextInt(26)));
        }
        return b.toString();
    }

    static String key(String filename, String subfolder, String type) {
        return type + "\u0000" + subfolder + "\u0000" + filename;
    }

    private void finishIfDone(Prompt p) {
        synchronized (p) {
            if (p.done || !p.submitted || p.ended.size() < p.jobs.size()) {
                return;
            }
            p.done = true;
            if (!p.failed && !p.interrupted) {
                p.message("execution_success", p.data());
            }
            // in the history before the client hears the end (lock order: a prompt, then the queue)
            synchronized (active) {
                active.remove(p.id);
                history.put(p.id, p);
                while (history.size() > MAX_HISTORY) {
                    drop(history.remove(history.keySet().iterator().next()));
                }
            }
            p.send("executing", executing(p, null), Frame.Kind.DURABLE, p.id);
        }
        p.jobs.forEach(j -> byJob.remove(j.id()));
        p.temporary.forEach(discard);
        sockets.status(this::remaining);
    }

    /** The prompts a caller may see that have not ended. */
    int remaining(Caller caller) {
        synchronized (active) {
            return (int) active.values().stream().filter(p -> caller.mayAccess(p.owner)).count();
        }
    }

    List<Prompt> active(Caller caller) {
        synchronized (active) {
            return active.values().stream().filter(p -> caller.mayAccess(p.owner)).toList();
        }
    }

    private Optional<Prompt> historyEntry(String id) {
        synchronized (active) {
            return Optional.ofNullable(history.get(id));
        }
    }

    /** ComfyUI's {@code get_history}: the caller's entries, oldest first; {@code offset} -1 with a max: the last. */
    ObjectNode history(Caller caller, String promptId, Integer maxItems, int offset) {
        ObjectNode out = mapper.createObjectNode();
        List<Prompt> list;
        synchronized (active) {
            list = history.values().stream().filter(p -> caller.mayAccess(p.owner)).toList();
        }
        if (promptId != null) {
            list.stream().filter(p -> p.id.equals(promptId)).findFirst().ifPresent(p -> out.set(p.id, entry(p)));
            return out;
        }
        if (offset < 0 && maxItems != null) {
            offset = list.size() - maxItems;
        }
        for (int i = Math.max(0, offset); i < list.size(); i++) {
            if (maxItems != null && out.size() >= maxItems) {
                break;
            }
            out.set(list.get(i).id, entry(list.get(i)));
        }
        return out;
    }

    private ObjectNode entry(Prompt p) {
        ObjectNode e = mapper.createObjectNode();
        synchronized (p) {
            e.set("prompt", p.item());
            e.set("outputs", p.outputs.deepCopy());
            ObjectNode status = e.putObject("status");
            status.put("status_str", p.failed || p.interrupted ? "error" : "success");
            status.put("completed", !p.failed && !p.interrupted);
            status.set("messages", p.messages.deepCopy());
            ObjectNode meta = e.putObject("meta");
            p.outputs.fieldNames().forEachRemaining(n -> {
                ObjectNode m = meta.putObject(n);
                m.put("node_id", n);
                m.put("display_node", n);
                m.putNull("parent_node");
                m.put("real_node_id", n);
            });
        }
        return e;
    }

    /** Removes the caller's history entries ({@code ids} null: all of them) and the names of their images. */
    void forget(Caller caller, List<String> ids) {
        synchronized (active) {
            for (var it = history.values().iterator(); it.hasNext(); ) {
                Prompt p = it.next();
                if (caller.mayAccess(p.owner) && (ids == null || ids.contains(p.id))) {
                    it.remove();
                    drop(p);
                }
            }
        }
    }

    /** An entry left the history: {@code /view} no longer knows its images' names. */
    private void drop(Prompt p) {
        p.imageKeys.forEach(images::remove);
    }

    /** Cancels the jobs of the caller's prompts that match: running ones ({@code running}) or waiting ones. */
    void cancel(Caller caller, List<String> ids, boolean running) {
        for (Prompt p : active(caller)) {
            if ((ids == null || ids.contains(p.id)) && p.running() == running) {
                List<Job> list;
                synchronized (p) {
                    list = List.copyOf(p.jobs);
                }
                list.stream().filter(j -> !j.status().terminal()).forEach(jobs::cancel);
            }
        }
    }

    /** The image {@code /view} names, if the caller may see it. */
    Optional<Image> image(Caller caller, String filename, String subfolder, String type) {
        Image i = images.get(key(filename, subfolder, type));
        return i != null && caller.mayAccess(i.owner()) ? Optional.of(i) : Optional.empty();
    }
}
