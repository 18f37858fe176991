package dev.jdiffuse.server.jobs;

import java.util.List;
import java.util.Set;

/**
 * Which device a queued job goes to, with model affinity as SwarmUI routes: the least-loaded device that holds the
 * job's model (loaded, or being loaded for an earlier job), else the least-loaded device, which then loads it. Load is
 * the images of the jobs running (or loading their model) there; ties go to the lowest device index, so the choice
 * is a pure function of the state it is given.
 */
final class DeviceRouter {

    private DeviceRouter() {
    }

    /**
     * @param model the job's model name
     * @param load per device, the images of its running jobs
     * @param held per device, the names of the models loaded or loading there
     * @return the device index
     */
    static int route(String model, int[] load, List<Set<String>> held) {
        boolean[] all = new boolean[load.length];
        java.util.Arrays.fill(all, true);
        return route(model, load, held, all);
    }

    /**
     * {@link #route} among the devices marked {@code working} (a broken device takes no job); -1 when none works.
     */
    static int route(String model, int[] load, List<Set<String>> held, boolean[] working) {
        int best = -1;
        for (int d = 0; d < load.length; d++) {
            if (working[d] && held.get(d).contains(model) && (best < 0 || load[d] < load[best])) {
                best = d;
            }
        }
        if (best >= 0) {
            return best;
        }
        for (int d = 0; d < load.length; d++) {
            if (working[d] && (best < 0 || load[d] < load[best])) {
                best = d;
            }
        }
        return best;
    }
}
