package dev.jdiffuse.server.sdapi;

import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelListing;
import dev.jdiffuse.server.models.ModelRegistry;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The models folder as A1111 names checkpoints: title {@code "name [hash]"} (A1111's {@code "file [shorthash]"},
 * the hash being the first 10 hex digits of the weights' SHA-256 once the model has loaded; the bare name before),
 * and the per-key options {@code POST /sdapi/v1/options} sets: the default checkpoint and CLIP skip of that key's
 * later A1111 requests (per key, so one client cannot change another's; A1111 has one global setting).
 */
public final class SdApiModels {

    private final ModelRegistry models;
    private final Map<String, String> defaultModel = new ConcurrentHashMap<>();
    private final Map<String, Integer> clipSkip = new ConcurrentHashMap<>();

    public SdApiModels(ModelRegistry models) {
        this.models = models;
    }

    /** {@code GET /sdapi/v1/sd-models}: {@code [{title, model_name, hash, sha256, filename, config}]}. */
    List<Map<String, Object>> list() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (ModelListing l : models.list()) {
            String sha = sha256(l);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("title", title(l.name(), sha));
            m.put("model_name", l.name());
            m.put("hash", sha == null ? null : LoadedModel.shortHash(sha));
            m.put("sha256", sha);
            m.put("filename", l.name()); // the entry's name: server paths are not shown to clients
            m.put("config", null);
            out.add(m);
        }
        return out;
    }

    private static String sha256(ModelListing l) {
        return l.info() == null ? null : l.info().sha256();
    }

    private static String title(String name, String sha) {
        return sha == null ? name : name + " [" + LoadedModel.shortHash(sha) + "]";
    }

    /** The title of model {@code name} as {@link #list} shows it. */
    String title(String name) {
        return listing(name).map(l -> title(l.name(), sha256(l))).orElse(name);
    }

    /** The short hash of {@code name}, or null before it has loaded. */
    String hash(String name) {
        return listing(name).map(SdApiModels::sha256).map(LoadedModel::shortHash).orElse(null);
    }

    private Optional<ModelListing> listing(String name) {
        return models.list().stream().filter(l -> l.name().equals(name)).findFirst();
    }

    /**
     * The model an A1111 checkpoint string names: a title, a model name, either with a file extension or a
     * {@code [hash]} suffix (matched against the name only), or a short hash; 404 naming {@code field} otherwise.
     */
    String resolve(String given, String field) {
        String g = given.trim();
        int bracket = g.lastIndexOf(" [");
        String bare = bracket > 0 && g.endsWith("]") ? g.substring(0, bracket).trim() : g;
        for (String ext : List.of(".safetensors", ".ckpt", ".pt", ".gguf")) {
            if (bare.toLowerCase(Locale.ROOT).endsWith(ext)) {
                bare = bare.substring(0, bare.length() - ext.length());
            }
        }
        for (ModelListing l : models.list()) {
            String sha = sha256(l);
            if (l.name().equals(bare) || l.name().equals(g) || (sha != null && (g.equals(sha)
                    || g.equals(LoadedModel.shortHash(sha))))) {
                return l.name();
            }
        }
        throw SdApiError.notFound("Model", field, "unknown checkpoint '" + given
                + "'; GET /sdapi/v1/sd-models lists them");
    }

    /** The model a key's requests use when they name none: its {@code /options} choice, else the server's. */
    String defaultFor(String caller) {
        String chosen = defaultModel.get(caller);
        return chosen != null && models.contains(chosen) ? chosen : models.defaultName().orElse(null);
    }

    void setDefault(String caller, String model) {
        defaultModel.put(caller, model);
    }

    /** A key's CLIP skip (A1111's {@code CLIP_stop_at_last_layers}, 1 = the last layer). */
    int clipSkip(String caller) {
        return clipSkip.getOrDefault(caller, 1);
    }

    void setClipSkip(String caller, int n) {
        clipSkip.put(caller, n);
    }

    /**
     * The noise space the model samples in: from its default sampler once it has loaded, else from the family
     * its folder declares (FLUX and SD3 are rectified flows).
     */
    NoiseSpace space(String name) {
        Optional<ModelListing> l = listing(name);
        if (l.isPresent() && l.get().info() != null) {
            return SamplerCatalog.sampler(l.get().info().defaults().sampler()).map(SamplerCatalog.Entry::space)
                    .orElse(NoiseSpace.DIFFUSION);
        }
        String family = l.map(ModelListing::family).orElse(null);
        return "flux".equals(family) || "sd3".equals(family) ? NoiseSpace.FLOW : NoiseSpace.DIFFUSION;
    }

    /**
     * What image sides must be multiples of (16 for the patchified flow transformers, else 8 until known); public
     * for the OpenAI edit route's {@code size: "auto"}.
     */
    public int sizeMultiple(String name) {
        Optional<ModelListing> l = listing(name);
        if (l.isPresent() && l.get().info() != null) {
            return l.get().info().sizeMultiple();
        }
        return space(name) == NoiseSpace.FLOW ? 16 : 8;
    }

    /**
     * Whether CLIP skip applies to the model: not to FLUX, SD3 (their CLIP contributes only a pooled or padded part)
     * and DiT (no text encoder), whose requests a key's {@code CLIP_stop_at_last_layers} option then leaves alone.
     */
    boolean takesClipSkip(String name) {
        String family = listing(name).map(ModelListing::family).orElse(null);
        return !"flux".equals(family) && !"sd3".equals(family) && !"dit".equals(family);
    }

    boolean isFlux(String name) {
        return listing(name).map(ModelListing::family).filter("flux"::equals).isPresent();
    }
}
