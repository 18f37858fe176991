package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client waits for its job without polling: {@code Prefer: wait=S} on the submission and {@code ?wait=S} on the
 * job's record hold the request until the job ends or the hold passes, without holding a server thread.
 */
class WaitTest {

    private static TestServer.Reply postWaiting(TestServer ts, String prefer, String json) throws Exception {
        return ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                .header("Content-Type", "application/json").header("Prefer", prefer)
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    /** Waits until {@code /metrics} counts {@code n} held requests (a server whose threads they held could not answer). */
    private static void awaitHeld(TestServer ts, int n) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        double held = -1;
        while (System.nanoTime() < end) {
            held = MetricsText.sum(new String(ts.get("/metrics").raw().body()), "jdiffuse_http_held_requests", "");
            if (held == n) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("held requests: " + held + ", expected " + n);
    }

    @Test
    void aSubmissionThatWaitsGetsTheFinishedJob() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            TestServer.Reply r = postWaiting(ts, "respond-async, wait=10", "{\"prompt\":\"a cat\",\"steps\":3}");
            assertEquals(201, r.status(), "ended within the hold: created");
            assertEquals("wait=10", r.header("Preference-Applied"));
            JsonNode job = r.json();
            assertEquals("succeeded", job.get("status").asText());
            assertEquals(1, job.get("images").size());
            assertEquals("/v1/generations/" + job.get("id").asText(), r.header("Location"));
            assertEquals("a cat", job.at("/parameters/prompt").asText(), "the full record");
            assertEquals(200, ts.get(job.get("images").get(0).asText()).status());
        }
    }

    private static HttpResponse<byte[]> postForImage(TestServer ts, String json) throws Exception {
        return ts.http.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                .header("Content-Type", "application/json").header("Prefer", "wait=10").header("Accept", "image/png")
                .POST(HttpRequest.BodyPublishers.ofString(json)).timeout(Duration.ofSeconds(20)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    @Test
    void waitingForAnImageGetsThePngItselfOrTheJobsError() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            HttpResponse<byte[]> r = postForImage(ts, "{\"prompt\":\"a cat\",\"steps\":2,\"batch_size\":2}");
            assertEquals(201, r.statusCode());
            assertEquals("image/png", r.headers().firstValue("Content-Type").orElse(null));
            String location = r.headers().firstValue("Location").orElseThrow();
            java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(r.body()));
            assertTrue(img != null && img.getWidth() > 0, "a PNG a viewer opens");
            assertArrayEquals(ts.get(location + "/images/0").raw().body(), r.body(), "the job's first image");
            List<String> links = r.headers().allValues("Link");
            assertEquals(List.of("<" + location + "/images/0>; rel=\"item\"; type=\"image/png\"",
                    "<" + location + "/images/1>; rel=\"item\"; type=\"image/png\""), links, "every image linked");

            HttpResponse<byte[]> failed = postForImage(ts, "{\"prompt\":\"fail\",\"steps\":3}");
            assertEquals(500, failed.statusCode());
            JsonNode error = TestServer.JSON.readTree(failed.body());
            assertEquals("non_finite_output", error.at("/error/code").asText(), error.toString());
        }
    }

    @Test
    void aHoldThatPassesAnswersTheJobAsItIsAndALongPollEndsWithTheJob() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            TestServer.Reply held = postWaiting(ts, "wait=1", "{\"prompt\":\"hold\",\"steps\":4}");
            assertEquals(202, held.status(), "still running when the hold passed");
            assertEquals("running", held.json().get("status").asText());
            assertEquals("wait=1", held.header("Preference-Applied"));
            String id = held.json().get("id").asText();
            TestServer.Reply queuedForImage = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/generations"))
                    .header("Content-Type", "application/json").header("Prefer", "wait=1").header("Accept", "image/png")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"steps\":1}")));
            assertEquals(202, queuedForImage.status(), "no image yet: the record");
            assertEquals("queued", queuedForImage.json().get("status").asText());

            long t0 = System.nanoTime();
            TestServer.Reply shortPoll = ts.get("/v1/generations/" + id + "?wait=0.3");
            long waitedMs = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(200, shortPoll.status());
            assertEquals("running", shortPoll.json().get("status").asText());
            assertTrue(waitedMs >= 250, "held for the 0.3 s asked, not " + waitedMs + " ms");

            CompletableFuture<HttpResponse<String>> poll = ts.http.sendAsync(HttpRequest.newBuilder(
                    URI.create(ts.base + "/v1/generations/" + id + "?wait=50")).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            awaitHeld(ts, 1);
            assertFalse(poll.isDone(), "the long poll waits for the job");
            ts.pipeline.release();
            HttpResponse<String> done = poll.get(20, TimeUnit.SECONDS); // well before its 50 s hold
            assertEquals(200, done.statusCode());
            assertEquals("Prefer", done.headers().firstValue("Vary").orElse(null));
            assertEquals("succeeded", TestServer.JSON.readTree(done.body()).get("status").asText());

            TestServer.Reply ended = ts.get("/v1/generations/" + id + "?wait=50");
            assertEquals("succeeded", ended.json().get("status").asText(), "an ended job answers at once");
            assertEquals(null, ended.header("Preference-Applied"));
        }
    }

    @Test
    void heldRequestsHoldNoThreads() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            String id = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":3}");
            // more waiters than the server has request threads (Jetty's pool: 250 at most)
            List<CompletableFuture<HttpResponse<String>>> polls = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                polls.add(ts.http.sendAsync(HttpRequest.newBuilder(
                        URI.create(ts.base + "/v1/generations/" + id + "?wait=30")).GET().build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            awaitHeld(ts, polls.size()); // every one reached the server and is held there
            long t0 = System.nanoTime();
            TestServer.Reply health = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/healthz")).GET()
                    .timeout(Duration.ofSeconds(10)));
            assertEquals(200, health.status());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5),
                    "answered while 300 requests are held");
            assertEquals(0, polls.stream().filter(CompletableFuture::isDone).count(), "all still held");
            ts.pipeline.release();
            for (var p : polls) {
                HttpResponse<String> r = p.get(20, TimeUnit.SECONDS);
                assertEquals("succeeded", TestServer.JSON.readTree(r.body()).get("status").asText());
            }
            awaitHeld(ts, 0);
        }
    }

    @Test
    void aRequestHeldForAQueuedJobGetsItsCancellationWhenTheServerStops() throws Exception {
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS
                .withShutdownGrace(Duration.ofMillis(200)));
        TestServer ts = new TestServer(options, new ScriptedPipeline(5));
        try {
            ts.submitHeld("{\"prompt\":\"hold\",\"steps\":3}");
            CompletableFuture<HttpResponse<String>> queued = ts.http.sendAsync(HttpRequest.newBuilder(
                    URI.create(ts.base + "/v1/generations")).header("Content-Type", "application/json")
                    .header("Prefer", "wait=30").POST(HttpRequest.BodyPublishers.ofString("{\"steps\":1}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            awaitHeld(ts, 1);
            ts.server.close();
            HttpResponse<String> r = queued.get(20, TimeUnit.SECONDS);
            assertEquals(201, r.statusCode(), r.body());
            JsonNode job = TestServer.JSON.readTree(r.body());
            assertEquals("cancelled", job.get("status").asText());
            assertEquals("shutdown", job.at("/error/code").asText());
        } finally {
            ts.pipeline.release(); // the server was closed above (a second close is not asked of it)
        }
    }

    @Test
    void beyondMaxHeldRequestsAWaitIsAnsweredAtOnce() throws Exception {
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS.withMaxHeldRequests(1));
        try (TestServer ts = new TestServer(options, new ScriptedPipeline(5))) {
            String id = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":3}");
            CompletableFuture<HttpResponse<String>> first = ts.http.sendAsync(HttpRequest.newBuilder(
                    URI.create(ts.base + "/v1/generations/" + id + "?wait=30")).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            awaitHeld(ts, 1);
            TestServer.Reply second = ts.get("/v1/generations/" + id + "?wait=30");
            assertEquals(200, second.status());
            assertEquals("running", second.json().get("status").asText(), "answered at once");
            assertEquals(null, second.header("Preference-Applied"));
            TestServer.Reply post = postWaiting(ts, "wait=30", "{\"steps\":1}");
            assertEquals(202, post.status());
            assertTrue(post.json().get("parameters") == null, "the plain acceptance");
            assertEquals(400, ts.get("/v1/generations/" + id + "?wait=x").status(), "still checked");
            ts.pipeline.release();
            assertEquals("succeeded", TestServer.JSON.readTree(first.get(20, TimeUnit.SECONDS).body())
                    .get("status").asText());
        }
    }

    @Test
    void aBurstOfWaitsHoldsNoMoreThanTheCap() throws Exception {
        int cap = 5;
        int burst = 60;
        ServerOptions options = ServerOptions.defaults().withSafety(Safety.DEFAULTS.withMaxHeldRequests(cap));
        try (TestServer ts = new TestServer(options, new ScriptedPipeline(5))) {
            String id = ts.submitHeld("{\"prompt\":\"hold\",\"steps\":3}");
            List<CompletableFuture<HttpResponse<String>>> polls = new ArrayList<>();
            for (int i = 0; i < burst; i++) { // all at once: the places are taken between check and hold
                polls.add(ts.http.sendAsync(HttpRequest.newBuilder(
                        URI.create(ts.base + "/v1/generations/" + id + "?wait=30")).GET().build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (polls.stream().filter(CompletableFuture::isDone).count() < burst - cap
                    && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            Thread.sleep(200); // a request held beyond the cap would stay unanswered here
            assertEquals(burst - cap, polls.stream().filter(CompletableFuture::isDone).count(),
                    "answered at once: all but the cap's");
            awaitHeld(ts, cap);
            ts.pipeline.release();
            for (var p : polls) {
                assertEquals(200, p.get(20, TimeUnit.SECONDS).statusCode());
            }
            awaitHeld(ts, 0);
        }
    }

    @Test
    void badWaitsAre400sAndAMalformedPreferenceIsIgnored() throws Exception {
        try (TestServer ts = new TestServer(5)) {
            TestServer.Reply bad = ts.post("/v1/generations?wait=soon", "{\"prompt\":\"a cat\",\"steps\":2}");
            assertEquals(400, bad.status());
            assertEquals("wait", bad.errorField());
            assertEquals(0, ts.pipeline.runsOf("a cat"), "refused before it was queued");

            TestServer.Reply ignored = postWaiting(ts, "wait=soon", "{\"prompt\":\"a dog\",\"steps\":2}");
            assertEquals(202, ignored.status());
            assertTrue(ignored.json().get("parameters") == null, "the plain acceptance: " + ignored.json());
            assertEquals(null, ignored.header("Preference-Applied"));
            String id = ignored.json().get("id").asText();
            assertEquals(400, ts.get("/v1/generations/" + id + "?wait=-1").status());
            ts.await(id, Duration.ofSeconds(10));
        }
    }
}
