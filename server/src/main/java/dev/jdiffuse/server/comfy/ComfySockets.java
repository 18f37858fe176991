package dev.jdiffuse.server.comfy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.stream.Frame;
import dev.jdiffuse.server.stream.JettySender;
import dev.jdiffuse.server.stream.Outbox;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToIntFunction;

/**
 * The {@code /ws} connections by ComfyUI client id ({@code ?clientId=}, else a fresh one, told in the first
 * {@code status} message's {@code sid}). Messages are ComfyUI's {@code {"type": event, "data": {...}}}, queued in
 * the native streams' bounded {@link Outbox} (never blocking a worker; progress superseded by newer progress; a
 * client too slow for the final messages is closed with 1013). A prompt's messages go to the connections of the
 * client id that submitted it whose key may see the prompt (another key using the same client id gets nothing).
 */
final class ComfySockets {

    /** Outbound bytes and frames a connection may have queued (as the native streams). */
    static final long OUTBOX_BYTES = 4L * 1024 * 1024;
    static final int OUTBOX_FRAMES = 256;

    record Session(String sid, String clientId, Caller caller, Outbox outbox) {
    }

    private final ObjectMapper mapper;
    private final Map<String, Session> bySession = new ConcurrentHashMap<>();
    private final Map<String, Set<Session>> byClient = new ConcurrentHashMap<>();

    ComfySockets(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    /** A new connection; {@code hello} is its first message (before any broadcast reaches it). */
    Session connect(String sessionId, String clientId, Caller caller, org.eclipse.jetty.websocket.api.Session ws,
            ObjectNode hello) {
        Session s = new Session(sessionId, clientId, caller, new Outbox(new JettySender(ws), OUTBOX_BYTES,
                OUTBOX_FRAMES, Outbox.Observer.NONE));
        send(s, "status", hello);
        bySession.put(sessionId, s);
        byClient.computeIfAbsent(clientId, k -> ConcurrentHashMap.newKeySet()).add(s);
        return s;
    }

    void gone(String sessionId) {
        Session s = bySession.remove(sessionId);
        if (s != null) {
            s.outbox().close();
            Set<Session> set = byClient.get(s.clientId());
            if (set != null) {
                set.remove(s);
                byClient.computeIfPresent(s.clientId(), (k, v) -> v.isEmpty() ? null : v);
            }
        }
    }

    Session session(String sessionId) {
        return bySession.get(sessionId);
    }

    int connections() {
        return bySession.size();
    }

    /**
     * The messages ComfyUI sends to every connection when a prompt came without a {@code client_id}: its
     * {@code executing} and {@code progress} go through {@code send_sync(..., server.client_id)} unguarded (a null
     * sid broadcasts), and {@code execution_interrupted} is added with {@code broadcast=True}; the others
     * ({@code executed}, {@code execution_start}, {@code execution_success}, {@code execution_error}) only reach a
     * client id.
     */
    private static final Set<String> BROADCAST_WITHOUT_CLIENT = Set.of("executing", "progress",
            "execution_interrupted");

    /**
     * {@code {type, data}} to the connections of {@code clientId} whose key may see {@code owner}'s prompts; for a
     * prompt without a client id, the messages ComfyUI broadcasts ({@link #BROADCAST_WITHOUT_CLIENT}) to every such
     * connection, so that a script waiting for {@code executing} with {@code node: null} sees its prompt end.
     */
    void send(String clientId, String owner, String type, ObjectNode data, Frame.Kind kind, String key) {
        if (clientId == null) {
            if (BROADCAST_WITHOUT_CLIENT.contains(type)) {
                String text = text(type, data);
                for (Session s : bySession.values()) {
                    if (s.caller().mayAccess(owner)) {
                        s.outbox().offer(Frame.text(kind, key, text));
                    }
                }
            }
            return;
        }
        Set<Session> set = byClient.get(clientId);
        if (set == null || set.isEmpty()) {
            return;
        }
        String text = text(type, data);
        for (Session s : set) {
            if (s.caller().mayAccess(owner)) {
                s.outbox().offer(Frame.text(kind, key, text));
            }
        }
    }

    /** A binary frame (ComfyUI's {@code [u32 event][payload]}) to the client's connections that may see it. */
    void sendBinary(String clientId, String owner, byte[] frame, String key) {
        Set<Session> set = clientId == null ? null : byClient.get(clientId);
        if (set == null) {
            return;
        }
        for (Session s : set) {
            if (s.caller().mayAccess(owner)) {
                s.outbox().offer(new Frame(Frame.Kind.PREVIEW, key, null, frame));
            }
        }
    }

    /** To one connection. */
    void send(Session s, String type, ObjectNode data) {
        s.outbox().offer(Frame.text(Frame.Kind.DURABLE, "comfy", text(type, data)));
    }

    /** ComfyUI's {@code status} message to every connection, each with its own key's queue count. */
    void status(ToIntFunction<Caller> remaining) {
        for (Session s : bySession.values()) {
            s.outbox().offer(Frame.text(Frame.Kind.PROGRESS, "comfy-status", text("status",
                    status(remaining.applyAsInt(s.caller()), null))));
        }
    }

    ObjectNode status(int remaining, String sid) {
        ObjectNode d = mapper.createObjectNode();
        d.putObject("status").putObject("exec_info").put("queue_remaining", remaining);
        if (sid != null) {
            d.put("sid", sid);
        }
        return d;
    }

    private String text(String type, ObjectNode data) {
        ObjectNode m = mapper.createObjectNode();
        m.put("type", type);
        m.set("data", data);
        try {
            return mapper.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
