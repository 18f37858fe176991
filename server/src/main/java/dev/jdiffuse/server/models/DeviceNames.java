package dev.jdiffuse.server.models;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The devices a server generates on ({@code --device}, {@code --devices}), each with its own loaded models and jobs,
 * and the labels that tell them apart in {@code /metrics}, {@code GET /v1/models} and job records.
 */
public final class DeviceNames {

    /** Most devices one server drives; far above any host's GPU count, it only bounds a typo's worker threads. */
    public static final int MAX_DEVICES = 64;
    private static final Pattern ONE = Pattern.compile("auto|cpu|cuda|cuda:(0|[1-9][0-9]{0,3})");

    private DeviceNames() {
    }

    /** Whether {@code device} is {@code auto}, {@code cpu}, {@code cuda} or {@code cuda:N}. */
    public static boolean valid(String device) {
        return device != null && ONE.matcher(device).matches();
    }

    /**
     * The devices of a {@code --devices} value: comma-separated {@code cpu}, {@code cuda} or {@code cuda:N}, spaces
     * around entries ignored; {@code auto} only alone (a list has to say which device each worker gets). A device may
     * appear twice (two workers with separate model copies on it).
     *
     * @throws IllegalArgumentException naming the flag and the bad entry
     */
    public static List<String> parse(String list) {
        if (list == null || list.isBlank()) {
            throw new IllegalArgumentException("--devices is empty: give a comma-separated list such as "
                    + "cuda:0,cuda:1");
        }
        List<String> out = new ArrayList<>();
        for (String raw : list.split(",", -1)) {
            String d = raw.strip();
            if (d.isEmpty()) {
                throw new IllegalArgumentException("--devices '" + list + "' has an empty entry; give a "
                        + "comma-separated list such as cuda:0,cuda:1");
            }
            if (!valid(d)) {
                throw new IllegalArgumentException("--devices '" + list + "': '" + d + "' is not a device; each "
                        + "entry is cpu, cuda or cuda:N (N = 0, 1, ...)");
            }
            out.add(d);
        }
        if (out.size() > 1 && out.contains("auto")) {
            throw new IllegalArgumentException("--devices '" + list + "': auto stands only alone; name each "
                    + "device (cpu, cuda:0, cuda:1, ...)");
        }
        if (out.size() > MAX_DEVICES) {
            throw new IllegalArgumentException("--devices lists " + out.size() + " devices; at most "
                    + MAX_DEVICES);
        }
        return List.copyOf(out);
    }

    /**
     * One label per device, in order: the device itself where it appears once, else {@code device#k} (k counting
     * its appearances from 0), so {@code cpu,cpu} gives {@code cpu#0, cpu#1} and metrics series never merge.
     */
    public static List<String> labels(List<String> devices) {
        Map<String, Integer> total = new HashMap<>();
        devices.forEach(d -> total.merge(d, 1, Integer::sum));
        Map<String, Integer> seen = new HashMap<>();
        List<String> out = new ArrayList<>();
        for (String d : devices) {
            int k = seen.merge(d, 1, Integer::sum) - 1;
            out.add(total.get(d) == 1 ? d : d + "#" + k);
        }
        return List.copyOf(out);
    }
}
