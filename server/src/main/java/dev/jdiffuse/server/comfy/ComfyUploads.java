package dev.jdiffuse.server.comfy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The names {@code POST /upload/image} gave the images it kept in the native upload store, per key (a key sees and
 * loads only its own), as ComfyUI's input folder: {@code subfolder/name}, a taken name becoming {@code name (1).ext}
 * unless {@code overwrite}. At most {@link #PER_KEY} names a key, the oldest forgotten first; the images themselves
 * live as long as the upload store keeps them.
 */
final class ComfyUploads {

    static final int PER_KEY = 256;

    private final Map<String, LinkedHashMap<String, String>> byOwner = new ConcurrentHashMap<>();

    /** Records upload {@code id} as {@code name} (in {@code subfolder}); returns the name used. */
    String put(String owner, String subfolder, String name, String id, boolean overwrite) {
        LinkedHashMap<String, String> names = byOwner.computeIfAbsent(owner, k -> new LinkedHashMap<>());
        synchronized (names) {
            String used = name;
            if (!overwrite) {
                int dot = name.lastIndexOf('.');
                String stem = dot > 0 ? name.substring(0, dot) : name;
                String ext = dot > 0 ? name.substring(dot) : "";
                for (int i = 1; names.containsKey(path(subfolder, used)); i++) {
                    used = stem + " (" + i + ")" + ext;
                }
            }
            names.remove(path(subfolder, used));
            names.put(path(subfolder, used), id);
            while (names.size() > PER_KEY) {
                names.remove(names.keySet().iterator().next());
            }
            return used;
        }
    }

    static String path(String subfolder, String name) {
        return subfolder == null || subfolder.isEmpty() ? name : subfolder + "/" + name;
    }

    /** The upload id of the owner's image {@code path} (LoadImage's {@code image}), or null. */
    String id(String owner, String path) {
        LinkedHashMap<String, String> names = byOwner.get(owner);
        if (names == null) {
            return null;
        }
        synchronized (names) {
            return names.get(path);
        }
    }

    /** The owner's names, sorted (LoadImage's list). */
    List<String> names(String owner) {
        LinkedHashMap<String, String> names = byOwner.get(owner);
        if (names == null) {
            return List.of();
        }
        synchronized (names) {
            List<String> l = new ArrayList<>(names.keySet());
            l.sort(null);
            return l;
        }
    }
}
