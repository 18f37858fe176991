package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A java.net.http WebSocket client that collects JSON events and binary preview frames in arrival order. */
final class WsClient implements AutoCloseable {

    /** One received message: a JSON event, or a binary frame's JSON header and payload. */
    record Message(JsonNode json, byte[] payload) {
        boolean binary() {
            return payload != null;
        }

        String type() {
            return json.path("type").asText();
        }
    }

    final BlockingQueue<Message> messages = new LinkedBlockingQueue<>();
    final CompletableFuture<Integer> closed = new CompletableFuture<>();
    final WebSocket socket;

    WsClient(HttpClient http, String url) throws Exception {
        this.socket = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5))
                .buildAsync(URI.create(url), new Collector()).get(5, TimeUnit.SECONDS);
    }

    private final class Collector implements WebSocket.Listener {
        private final StringBuilder text = new StringBuilder();
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                try {
                    messages.add(new Message(TestServer.JSON.readTree(text.toString()), null));
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
                text.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            bytes.writeBytes(b);
            if (last) {
                ByteBuffer all = ByteBuffer.wrap(bytes.toByteArray());
                int n = all.getInt();
                byte[] header = new byte[n];
                all.get(header);
                byte[] payload = new byte[all.remaining()];
                all.get(payload);
                try {
                    messages.add(new Message(TestServer.JSON.readTree(new String(header, StandardCharsets.UTF_8)),
                            payload));
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
                bytes.reset();
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            closed.completeExceptionally(error);
        }
    }

    void send(String json) throws Exception {
        socket.sendText(json, true).get(5, TimeUnit.SECONDS);
    }

    Message next(Duration timeout) throws InterruptedException {
        Message m = messages.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (m == null) {
            throw new AssertionError("no WebSocket message within " + timeout);
        }
        return m;
    }

    /** Messages up to and including the {@code final} event of {@code jobId}. */
    List<Message> untilFinal(String jobId, Duration timeout) throws InterruptedException {
        List<Message> got = new ArrayList<>();
        long end = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = end - System.nanoTime();
            Message m = next(Duration.ofNanos(Math.max(1, left)));
            got.add(m);
            if (!m.binary() && m.type().equals("final") && m.json().path("job").asText().equals(jobId)) {
                return got;
            }
        }
    }

    @Override
    public void close() {
        socket.abort();
    }
}
