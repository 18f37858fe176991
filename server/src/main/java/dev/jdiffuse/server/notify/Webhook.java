package dev.jdiffuse.server.notify;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Tells an operator's endpoint about finished jobs: each event is POSTed as JSON to the one URL the server was
 * started with ({@code --webhook-url}; only the operator chooses it, so no client can make the server call where it
 * likes). Deliveries run on one daemon thread in arrival order and never hold up a job: the hand-off is a bounded
 * queue (when the endpoint falls {@value #QUEUE} events behind, new ones are dropped and counted), each attempt times
 * out, and a failed one (no answer or a status outside 2xx) is tried again after 1, 4 and 16 times {@code backoff}
 * before being dropped and logged.
 *
 * <p>Headers, as GitHub's webhooks have them: {@code X-Jdiffuse-Event} (the event name), {@code X-Jdiffuse-Delivery}
 * (a UUID, the same on every attempt, for deduplication) and, with a secret ({@code --webhook-secret-file}),
 * {@code X-Jdiffuse-Signature-256: sha256=<hex HMAC-SHA256 of the body>} for the receiver to check the sender.
 */
public final class Webhook implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Webhook.class);
    static final int QUEUE = 1000;
    private static final int ATTEMPTS = 4;

    private record Event(String name, String delivery, byte[] body) {
    }

    private final URI target;
    private final byte[] secret;
    private final Duration backoff;
    private final Duration timeout;
    private final HttpClient http;
    private final BlockingQueue<Event> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread sender;
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean closed;

    /**
     * @param target where events are POSTed (http or https)
     * @param secret the HMAC key, or null for unsigned events
     * @param backoff the first retry's delay (later ones 4x and 16x it)
     * @param timeout each attempt's limit, connection included
     */
    public Webhook(URI target, byte[] secret, Duration backoff, Duration timeout) {
        String scheme = target.getScheme() == null ? "" : target.getScheme().toLowerCase(java.util.Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || target.getHost() == null) {
            throw new IllegalArgumentException("--webhook-url must be an http(s) URL with a host, got " + target);
        }
        this.target = target;
        this.secret = secret == null ? null : secret.clone();
        this.backoff = backoff;
        this.timeout = timeout;
        this.http = HttpClient.newBuilder().connectTimeout(timeout).followRedirects(HttpClient.Redirect.NEVER).build();
        this.sender = new Thread(this::run, "jdiffuse-webhook");
        sender.setDaemon(true);
        sender.start();
    }

    /** Queues {@code json} as event {@code name}; never blocks (dropped and counted when the queue is full). */
    public void send(String name, String json) {
        if (closed || !queue.offer(new Event(name, UUID.randomUUID().toString(),
                json.getBytes(StandardCharsets.UTF_8)))) {
            long n = dropped.incrementAndGet();
            LOG.warn("webhook event {} dropped ({} so far): {}", name, n, closed ? "closing" : "the endpoint is "
                    + QUEUE + " events behind");
        }
    }

    /** Events the endpoint acknowledged (2xx). */
    public long delivered() {
        return delivered.get();
    }

    /** Events given up: queue full, or every attempt failed. */
    public long dropped() {
        return dropped.get();
    }

    /** The signature header's value for {@code body} under {@code key}: {@code sha256=} and the hex HMAC-SHA256. */
    public static String signature(byte[] key, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return "sha256=" + HexFormat.of().formatHex(mac.doFinal(body));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    private void run() {
        while (!closed || !queue.isEmpty()) {
            Event e;
            try {
                e = queue.poll(200, TimeUnit.MILLISECONDS);
            } catch (InterruptedException ie) {
                return;
            }
            if (e != null) {
                deliver(e);
            }
        }
    }

    private void deliver(Event e) {
        HttpRequest.Builder b = HttpRequest.newBuilder(target).timeout(timeout)
                .header("Content-Type", "application/json").header("User-Agent", "jdiffuse-webhook")
                .header("X-Jdiffuse-Event", e.name()).header("X-Jdiffuse-Delivery", e.delivery())
                .POST(HttpRequest.BodyPublishers.ofByteArray(e.body()));
        if (secret != null) {
            b.header("X-Jdiffuse-Signature-256", signature(secret, e.body()));
        }
        HttpRequest request = b.build();
        String last = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            if (attempt > 0 && !sleep(backoff.multipliedBy(1L << (2 * (attempt - 1))))) {
                break;
            }
            try {
                int status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
                if (status / 100 == 2) {
                    delivered.incrementAndGet();
                    return;
                }
                last = "HTTP " + status;
            } catch (java.io.IOException ex) {
                last = ex.toString();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        long n = dropped.incrementAndGet();
        LOG.warn("webhook event {} ({}) not delivered to {} after {} attempts, last: {} ({} dropped so far)",
                e.name(), e.delivery(), target, ATTEMPTS, last, n);
    }

    private boolean sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
            return true;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Stops taking events; those queued are still tried for up to {@code grace}. */
    public void close(Duration grace) {
        closed = true;
        try {
            sender.join(grace.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sender.interrupt();
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(5));
    }
}
