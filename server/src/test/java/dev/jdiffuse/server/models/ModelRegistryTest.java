package dev.jdiffuse.server.models;

import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.Pipelines;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The --models folder through the loader seam: entries listed without loading, loading within the budget at
 * start-up and on first use, least-recently-used eviction of idle models, failures kept with their reason, one load
 * for concurrent askers.
 */
class ModelRegistryTest {

    /** Pipelines the stub loader opened and closed, by model name. */
    final List<String> loads = Collections.synchronizedList(new ArrayList<>());
    final Set<String> closed = ConcurrentHashMap.newKeySet();

    ImagePipeline stub(String name) {
        return (ImagePipeline) Proxy.newProxyInstance(ImagePipeline.class.getClassLoader(),
                new Class<?>[] {ImagePipeline.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "name" -> name;
                    case "family" -> "sd1";
                    case "pixelsPerLatent" -> 8;
                    case "sizeMultiple" -> 8;
                    case "samplers" -> List.of("euler");
                    case "defaults" -> new PipelineDefaults("euler", "default", 20, 512, 512, 7.5);
                    case "controlnets" -> List.of();
                    case "close" -> {
                        closed.add(name);
                        yield null;
                    }
                    default -> null;
                });
    }

    /** Loads anything but an entry whose name contains {@code broken}, recording each load. */
    PipelineLoader loader() {
        return (entry, device, dtype) -> {
            String name = Pipelines.nameOf(entry);
            loads.add(name);
            if (name.contains("broken")) {
                throw new IllegalStateException("missing model_index.json\n\tat native frames");
            }
            return stub(name);
        };
    }

    static void folder(Path dir, String name, int weightBytes) throws IOException {
        Files.createDirectories(dir.resolve(name + "/unet"));
        Files.write(dir.resolve(name + "/unet/diffusion_pytorch_model.safetensors"), new byte[weightBytes]);
        Files.writeString(dir.resolve(name + "/model_index.json"), "{\"_class_name\":\"StableDiffusionXLPipeline\"}");
    }

    static Map<String, ModelState> states(ModelRegistry r) {
        Map<String, ModelState> m = new java.util.TreeMap<>();
        r.list().forEach(l -> m.put(l.name(), l.state()));
        return m;
    }

    @Test
    void listsEveryEntryLoadsWithinTheBudgetAndKeepsFailuresWithTheirReason(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("a-broken"));
        folder(dir, "b", 100);
        folder(dir, "c", 200);
        Files.write(dir.resolve("d.safetensors"), new byte[] {1, 2, 3, 4});
        Files.createDirectories(dir.resolve(".cache"));
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), "cpu", "fp32", new ModelBudget(1, 0))) {
            assertEquals(List.of("a-broken", "b"), loads, "the broken first entry is tried, then b fills the budget");
            assertEquals("b", r.defaultName().orElseThrow(), "the first entry that loads is the default");
            assertFalse(r.isEmpty());
            assertEquals(Map.of("a-broken", ModelState.FAILED, "b", ModelState.LOADED, "c", ModelState.UNLOADED,
                    "d", ModelState.UNLOADED), states(r));
            ModelListing broken = r.list().get(0);
            assertEquals("missing model_index.json", broken.error(), "the reason's first line");
            assertEquals("missing model_index.json", r.failure("a-broken").orElseThrow());
            ModelListing c = r.list().get(2);
            assertEquals(200, c.bytes(), "weight files' size");
            assertEquals("sdxl", c.family(), "guessed from model_index.json before loading");
            assertNull(c.info(), "nothing known from a load yet");
            assertNull(r.list().get(3).family(), "a single file's family is known once loaded");
            assertEquals(4, r.list().get(3).bytes());
            assertEquals("sd1", r.list().get(1).family(), "the loaded pipeline's answer replaces the guess");

            ModelUnavailableException e = assertThrows(ModelUnavailableException.class, () -> r.acquire("a-broken"));
            assertTrue(e.getMessage().contains("missing model_index.json"), e.getMessage());
            assertEquals(2, loads.size(), "a failed model is not retried at every request");
            assertThrows(IllegalArgumentException.class, () -> r.acquire("nope"));
        }
    }

    @Test
    void evictsTheLeastRecentlyUsedIdleModelAndClosesIt(@TempDir Path dir) throws Exception {
        for (String n : List.of("a", "b", "c")) {
            folder(dir, n, 10);
        }
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), "cpu", "fp32", new ModelBudget(2, 0))) {
            assertEquals(List.of("a", "b"), loads, "start-up fills the budget in name order");
            r.acquire("a").close(); // a is now more recently used than b
            try (ModelRegistry.Lease c = r.acquire("c")) {
                assertEquals("c", c.model().name());
                assertEquals(Set.of("b"), closed, "b was the least recently used");
                assertEquals(Map.of("a", ModelState.LOADED, "b", ModelState.UNLOADED, "c", ModelState.LOADED),
                        states(r));
                assertEquals("sd1", r.list().get(1).info().family(), "an evicted model still shows what it was");
                try (ModelRegistry.Lease a = r.acquire("a"); ModelRegistry.Lease b = r.acquire("b")) {
                    // a and c are leased: nothing can go, so b loads over the budget rather than stall
                    assertEquals(3, r.loadedModels().size());
                    assertSame(a.model(), r.loaded("a").orElseThrow());
                    assertEquals("b", b.model().name());
                }
            }
            r.acquire("a").close();
            r.acquire("b").close();
            try (ModelRegistry.Lease ignored = r.acquire("b")) {
                assertEquals(3, r.loadedModels().size(), "over budget until the next load makes room");
            }
        }
        assertTrue(closed.containsAll(Set.of("a", "b", "c")), "closing the registry closes what is loaded");
    }

    @Test
    void keepsModelsThatQueuedJobsWantOverOlderUse(@TempDir Path dir) throws Exception {
        for (String n : List.of("a", "b", "c")) {
            folder(dir, n, 10);
        }
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), "cpu", "fp32", new ModelBudget(2, 0))) {
            r.acquire("b").close(); // a is least recently used...
            r.demand(() -> Set.of("a")); // ...but a queued job names it
            r.acquire("c").close();
            assertEquals(Set.of("b"), closed);
        }
    }

    @Test
    void aByteBudgetCountsWeightFiles(@TempDir Path dir) throws Exception {
        folder(dir, "a", 600);
        folder(dir, "b", 300);
        folder(dir, "c", 300);
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), "cpu", "fp32", new ModelBudget(10, 1000))) {
            assertEquals(List.of("a", "b"), loads, "600 + 300 fit 1000; c would not");
            r.acquire("c").close();
            assertEquals(Set.of("a"), closed, "a, the least recently used, makes room for c");
        }
    }

    @Test
    void twoAskersOfAnUnloadedModelLoadItOnce(@TempDir Path dir) throws Exception {
        folder(dir, "a", 10);
        folder(dir, "slow", 10);
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger slowLoads = new AtomicInteger();
        PipelineLoader base = loader();
        PipelineLoader loader = (entry, device, dtype) -> {
            if (Pipelines.nameOf(entry).equals("slow")) {
                slowLoads.incrementAndGet();
                entered.countDown();
                assertTrue(release.await(10, TimeUnit.SECONDS));
            }
            return base.load(entry, device, dtype);
        };
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (ModelRegistry r = ModelRegistry.open(dir, loader, "cpu", "fp32", new ModelBudget(1, 0))) {
            Future<String> first = pool.submit(() -> {
                try (ModelRegistry.Lease l = r.acquire("slow")) {
                    return l.model().name();
                }
            });
            assertTrue(entered.await(10, TimeUnit.SECONDS));
            assertEquals(ModelState.LOADING, states(r).get("slow"));
            Future<String> second = pool.submit(() -> {
                try (ModelRegistry.Lease l = r.acquire("slow")) {
                    return l.model().name();
                }
            });
            Thread.sleep(100);
            assertFalse(second.isDone(), "the second asker waits for the first load");
            release.countDown();
            assertEquals("slow", first.get(10, TimeUnit.SECONDS));
            assertEquals("slow", second.get(10, TimeUnit.SECONDS));
            assertEquals(1, slowLoads.get(), "loaded once");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void noEntryThatLoadsMeansEmpty(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("broken"));
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), "cpu", "fp32", ModelBudget.UNLIMITED)) {
            assertTrue(r.isEmpty());
            assertTrue(r.defaultName().isEmpty());
            assertEquals(ModelState.FAILED, r.list().get(0).state());
        }
    }

    @Test
    void hashesSingleFilesAsThemselvesAndFoldersByTheirWeights(@TempDir Path dir) throws Exception {
        byte[] single = {1, 2, 3, 4};
        Files.write(dir.resolve("single.safetensors"), single);
        folder(dir, "folder", 2);
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), "cpu", "fp32", ModelBudget.UNLIMITED)) {
            assertEquals(List.of("folder", "single"), r.loadedModels().stream().map(LoadedModel::name).toList());
            String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(single));
            assertEquals(expected, r.loaded("single").orElseThrow().sha256(), "a single file hashes as itself");
            assertEquals(expected.substring(0, 10), r.loaded("single").orElseThrow().shortHash());
            String folderHash = r.loaded("folder").orElseThrow().sha256();
            Files.write(dir.resolve("folder/unet/diffusion_pytorch_model.safetensors"), new byte[] {5, 7});
            assertNotEquals(folderHash, ModelHasher.sha256(dir.resolve("folder")), "weights change the hash");
            Files.writeString(dir.resolve("folder/model_index.json"), "{\"x\":1}");
            assertEquals(ModelHasher.sha256(dir.resolve("folder")), ModelHasher.sha256(dir.resolve("folder")));
        }
    }

    @Test
    void eachDeviceLoadsAndEvictsItsOwnCopiesWithinItsOwnBudget(@TempDir Path dir) throws Exception {
        for (String n : List.of("a", "b", "c")) {
            folder(dir, n, 10);
        }
        PipelineLoader perDevice = (entry, device, dtype) -> {
            String name = Pipelines.nameOf(entry) + "@" + device;
            loads.add(name);
            return stub(name);
        };
        try (ModelRegistry r = ModelRegistry.open(dir, perDevice, List.of("cuda:0", "cuda:1"), "fp16",
                new ModelBudget(1, 0))) {
            assertEquals(List.of("cuda:0", "cuda:1"), r.devices());
            assertEquals(Set.of("a@cuda:0", "a@cuda:1"), Set.copyOf(loads), "each device fills its own budget");
            assertEquals("a", r.defaultName().orElseThrow());
            assertEquals(List.of(Set.of("a"), Set.of("a")), r.held());
            try (ModelRegistry.Lease b = r.acquire("b", 1)) {
                assertEquals("b", b.model().name());
                assertEquals("b@cuda:1", b.model().pipeline().name(), "loaded on the device asked for");
                assertEquals(Set.of("a@cuda:1"), closed, "only that device's copy of a made room");
                assertEquals(List.of(Set.of("a"), Set.of("b")), r.held());
                assertEquals(1, r.loadedCount(0));
                assertEquals(1, r.loadedCount(1));
                assertEquals("a@cuda:0", r.loaded("a").orElseThrow().pipeline().name());
                assertTrue(r.loaded("a", 1).isEmpty());
                assertSame(b.model(), r.loaded("b").orElseThrow(), "loaded somewhere: the API can validate with it");
                Map<String, List<String>> on = new java.util.TreeMap<>();
                r.list().forEach(l -> on.put(l.name(), l.devices()));
                assertEquals(Map.of("a", List.of("cuda:0"), "b", List.of("cuda:1"), "c", List.of()), on);
                assertEquals(List.of("a", "b"), r.loadedModels().stream().map(LoadedModel::name).toList());
            }
            try (ModelRegistry.Lease a = r.acquire("a", 0)) {
                assertEquals("a@cuda:0", a.model().pipeline().name(), "still loaded there: no new load");
            }
            assertEquals(3, loads.size());
        }
        assertEquals(Set.of("a@cuda:0", "a@cuda:1", "b@cuda:1"), closed, "closing closes every device's copies");
    }

    @Test
    void twoCopiesOfOneDeviceAreLabelledApart(@TempDir Path dir) throws Exception {
        folder(dir, "a", 10);
        try (ModelRegistry r = ModelRegistry.open(dir, loader(), List.of("cpu", "cpu"), "fp32",
                ModelBudget.UNLIMITED)) {
            assertEquals(List.of("cpu#0", "cpu#1"), r.devices());
            assertEquals(List.of("a", "a"), loads, "one copy per worker");
            assertEquals(List.of("cpu#0", "cpu#1"), r.list().get(0).devices());
            assertNotSame(r.loaded("a", 0).orElseThrow().pipeline(), r.loaded("a", 1).orElseThrow().pipeline());
        }
    }
}
