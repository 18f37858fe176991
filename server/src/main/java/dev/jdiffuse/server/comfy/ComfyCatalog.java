package dev.jdiffuse.server.comfy;

import dev.jdiffuse.server.api.HttpApi;
import dev.jdiffuse.server.auth.Caller;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.loras.LoraLibrary;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a ComfyUI client reads about this server: the live combo lists (models, LoRAs, sampler and scheduler names,
 * the caller's uploads), {@code GET /object_info} and {@code GET /system_stats} in ComfyUI's shapes.
 */
final class ComfyCatalog {

    private final HttpApi api;
    private final ComfyUploads uploads;

    ComfyCatalog(HttpApi api, ComfyUploads uploads) {
        this.api = api;
        this.uploads = uploads;
    }

    ComfyNodes.Choices choices(Caller caller) {
        return new ComfyNodes.Choices() {
            @Override
            public List<String> checkpoints() {
                return api.models().list().stream().map(l -> ComfyNames.listed(l.name())).toList();
            }

            @Override
            public List<String> loras() {
                LoraLibrary l = api.loras();
                l.refresh();
                return l.all().stream().map(e -> ComfyNames.listed(e.name())).toList();
            }

            @Override
            public List<String> samplers() {
                return ComfySamplers.samplerNames();
            }

            @Override
            public List<String> schedulers() {
                return ComfySamplers.schedulerNames();
            }

            @Override
            public List<String> images() {
                return uploads.names(caller.name());
            }
        };
    }

    Map<String, Object> objectInfo(Caller caller, String one) {
        ComfyNodes.Choices choices = choices(caller);
        Map<String, Object> out = new LinkedHashMap<>();
        for (ComfyNodes.Spec s : ComfyNodes.SPECS.values()) {
            if (one == null || one.equals(s.name())) {
                out.put(s.name(), ComfyNodes.info(s, choices));
            }
        }
        return out;
    }

    Map<String, Object> systemStats() {
        Map<String, Object> system = new LinkedHashMap<>();
        long total = 0;
        long free = 0;
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            total = os.getTotalMemorySize();
            free = os.getFreeMemorySize();
        }
        system.put("os", System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows") ? "win32"
                : System.getProperty("os.name", "").toLowerCase(Locale.ROOT));
        system.put("ram_total", total);
        system.put("ram_free", free);
        system.put("comfyui_version", "jdiffuse-" + ImageMetadata.VERSION);
        system.put("python_version", "");
        system.put("pytorch_version", "");
        system.put("embedded_python", false);
        system.put("argv", List.of());
        List<Map<String, Object>> devices = new ArrayList<>();
        List<String> labels = api.models().devices();
        for (int i = 0; i < labels.size(); i++) {
            String label = labels.get(i);
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("name", label);
            d.put("type", label.contains(":") ? label.substring(0, label.indexOf(':')) : label);
            d.put("index", label.contains(":") ? Integer.valueOf(label.substring(label.indexOf(':') + 1)) : null);
            d.put("vram_total", 0);
            d.put("vram_free", 0);
            d.put("torch_vram_total", 0);
            d.put("torch_vram_free", 0);
            devices.add(d);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("system", system);
        out.put("devices", devices);
        return out;
    }
}
