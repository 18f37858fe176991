package dev.jdiffuse.server.stream;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.server.auth.Authenticator;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.web.Json;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobManager;
import io.javalin.Javalin;
import io.javalin.websocket.WsConfig;
import io.javalin.websocket.WsContext;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The WebSocket endpoints. {@code /v1/generations/{id}/stream} follows one job from the moment it connects (an
 * unknown id closes with 4404); {@code /v1/stream} follows the jobs the client names with
 * {@code {"type":"subscribe","id":"..."}} and {@code {"type":"unsubscribe","id":"..."}} (both also work on the
 * per-job socket). Messages are described in {@link StreamHub} and {@link PreviewFrames}.
 */
public final class StreamRoutes {

    public static final int CLOSE_UNKNOWN_JOB = 4404;
    /** Per-connection cap of queued outbound bytes and frames. */
    public static final long OUTBOX_BYTES = 4L * 1024 * 1024;
    public static final int OUTBOX_FRAMES = 256;

    private final StreamHub hub;
    private final JobManager jobs;
    private final Json json;
    private final Outbox.Observer observer;
    private final Authenticator auth;
    private final Map<String, Caller> callers = new ConcurrentHashMap<>();
    private final Map<String, Subscriber> sessions = new ConcurrentHashMap<>();

    public StreamRoutes(StreamHub hub, JobManager jobs, Json json, Outbox.Observer observer) {
        this(hub, jobs, json, observer, new Authenticator(null));
    }

    /** @param auth whose jobs a connection may follow: its key's own (all for an admin key) */
    public StreamRoutes(StreamHub hub, JobManager jobs, Json json, Outbox.Observer observer, Authenticator auth) {
        this.auth = auth;
        this.hub = hub;
        this.jobs = jobs;
        this.json = json;
        this.observer = observer;
    }

    public void register(Javalin app) {
        app.ws("/v1/generations/{id}/stream", ws -> handlers(ws, true));
        app.ws("/v1/stream", ws -> handlers(ws, false));
    }

    private void handlers(WsConfig ws, boolean perJob) {
        ws.onConnect(ctx -> {
            ctx.enableAutomaticPings(15, TimeUnit.SECONDS);
            Subscriber s = new Subscriber(new Outbox(new JettySender(ctx.session), OUTBOX_BYTES, OUTBOX_FRAMES,
                    observer));
            Caller caller = auth.callerOf(ctx.attribute(Authenticator.ATTRIBUTE));
            callers.put(ctx.sessionId(), caller);
            sessions.put(ctx.sessionId(), s);
            hub.connected(s);
            if (perJob) {
                Optional<Job> job = visible(caller, ctx.pathParam("id"));
                if (job.isEmpty()) {
                    ctx.closeSession(CLOSE_UNKNOWN_JOB, "unknown generation id");
                    return;
                }
                hub.subscribe(s, job.get());
            }
        });
        ws.onMessage(ctx -> message(ctx, ctx.message()));
        ws.onBinaryMessage(ctx -> ctx.closeSession(1003, "binary messages are not accepted"));
        ws.onClose(ctx -> gone(ctx));
        ws.onError(ctx -> gone(ctx));
    }

    private void gone(WsContext ctx) {
        callers.remove(ctx.sessionId());
        Subscriber s = sessions.remove(ctx.sessionId());
        if (s != null) {
            hub.disconnected(s);
        }
    }

    private void message(WsContext ctx, String text) {
        Subscriber s = sessions.get(ctx.sessionId());
        if (s == null) {
            return;
        }
        JsonNode msg = json.tree(text);
        String type = msg == null ? null : msg.path("type").asText(null);
        String id = msg == null ? null : msg.path("id").asText(null);
        if (type == null || id == null || !(type.equals("subscribe") || type.equals("unsubscribe"))) {
            hub.reply(s, error("bad_message", "send {\"type\":\"subscribe\"|\"unsubscribe\",\"id\":\"<job id>\"}",
                    id));
            return;
        }
        if (type.equals("unsubscribe")) {
            hub.unsubscribe(s, id);
            return;
        }
        Optional<Job> job = visible(callers.getOrDefault(ctx.sessionId(), auth.callerOf(null)), id);
        if (job.isEmpty()) {
            hub.reply(s, error("not_found", "no generation with this id", id));
            return;
        }
        hub.subscribe(s, job.get());
    }

    /** The job, if the caller may follow it: another key's job is as unknown as a missing one. */
    private Optional<Job> visible(Caller caller, String id) {
        return jobs.get(id).filter(j -> caller.mayAccess(j.owner()));
    }

    private static Map<String, Object> error(String code, String message, String id) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "error");
        m.put("job", id);
        m.put("code", code);
        m.put("message", message);
        return m;
    }
}
