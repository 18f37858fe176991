package dev.jdiffuse.server.jobs;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Where a queued job goes: model affinity first, then the least load, ties to the lowest device; never to a broken
 * device.
 */
class DeviceRouterTest {

    @Test
    void theLeastLoadedDeviceHoldingTheModelElseTheLeastLoadedDevice() {
        List<Set<String>> held = List.of(Set.of("a"), Set.of("b"), Set.of("a", "b"));
        assertEquals(2, DeviceRouter.route("a", new int[] {3, 0, 1}, held), "the less loaded of the two holding a");
        assertEquals(0, DeviceRouter.route("a", new int[] {1, 0, 1}, held), "a tie goes to the lower device");
        assertEquals(0, DeviceRouter.route("a", new int[] {7, 0, 8}, held),
                "a busy holder wins over an idle device without the model");
        assertEquals(1, DeviceRouter.route("b", new int[] {0, 2, 2}, held));
        assertEquals(1, DeviceRouter.route("c", new int[] {2, 1, 1}, held), "nobody holds c: the least loaded");
        assertEquals(0, DeviceRouter.route("c", new int[] {0, 0, 0}, held), "all idle: the first");
        assertEquals(0, DeviceRouter.route("x", new int[] {5}, List.of(Set.of())), "one device takes everything");
    }

    @Test
    void aBrokenDeviceTakesNothing() {
        List<Set<String>> held = List.of(Set.of("a"), Set.of("b"), Set.of("a"));
        boolean[] firstBroken = {false, true, true};
        assertEquals(2, DeviceRouter.route("a", new int[] {0, 0, 9}, held, firstBroken),
                "the only working holder of a, however loaded");
        assertEquals(0, DeviceRouter.route("b", new int[] {4, 0, 5}, held, new boolean[] {true, false, true}),
                "b's holder is broken: the least loaded working device");
        assertEquals(2, DeviceRouter.route("c", new int[] {0, 3, 1}, held, firstBroken),
                "nobody holds c: the least loaded working device");
        assertEquals(-1, DeviceRouter.route("a", new int[] {0, 0, 0}, held, new boolean[3]), "none works");
    }
}
