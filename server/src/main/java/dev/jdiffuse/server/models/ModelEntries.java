package dev.jdiffuse.server.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The cheap facts about a models-folder entry that the registry knows before loading it: the entries themselves,
 * their weight files' size, and a family guessed from small JSON configs (never the weights).
 */
final class ModelEntries {

    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelEntries() {
    }

    /** The model entries of {@code folder} in name order ({@link ModelLoaders#isModelEntry}). */
    static List<Path> list(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(ModelLoaders::isModelEntry).sorted().toList();
        }
    }

    /** When the entry last changed: the file's time, or a folder's newest weight file's (0 when unreadable). */
    static long lastModified(Path entry) {
        try {
            if (Files.isRegularFile(entry)) {
                return Files.getLastModifiedTime(entry).toMillis();
            }
            try (Stream<Path> s = Files.walk(entry, FileVisitOption.FOLLOW_LINKS)) {
                return s.filter(Files::isRegularFile).mapToLong(p -> {
                    try {
                        return Files.getLastModifiedTime(p).toMillis();
                    } catch (IOException e) {
                        return 0;
                    }
                }).max().orElse(0);
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            return 0;
        }
    }

    /** Bytes of the entry's weight files (the file itself for a single file); 0 when unreadable. */
    static long weightBytes(Path entry) {
        try {
            if (Files.isRegularFile(entry)) {
                return Files.size(entry);
            }
            try (Stream<Path> s = Files.walk(entry, FileVisitOption.FOLLOW_LINKS)) {
                return s.filter(Files::isRegularFile).filter(ModelHasher::isWeights).mapToLong(p -> {
                    try {
                        return Files.size(p);
                    } catch (IOException e) {
                        return 0;
                    }
                }).sum();
            }
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * The family a diffusers folder declares: {@code model_index.json}'s {@code _class_name}, and for Stable Diffusion
     * the UNet's {@code cross_attention_dim} (1024: SD 2). Null for single files and anything unrecognised; the
     * loaded pipeline's own answer replaces the guess.
     */
    static String guessFamily(Path entry) {
        Path index = entry.resolve("model_index.json");
        if (!Files.isRegularFile(index)) {
            return null;
        }
        try {
            JsonNode modelIndex = JSON.readTree(index.toFile());
            String cls = modelIndex.path("_class_name").asText("");
            if (cls.startsWith("StableDiffusionXL")) {
                // the refiner's folder: StableDiffusionXLImg2ImgPipeline with aesthetic-score time ids
                return modelIndex.path("requires_aesthetics_score").asBoolean(false) ? "sdxl_refiner" : "sdxl";
            }
            if (cls.startsWith("StableDiffusion3")) {
                return "sd3";
            }
            if (cls.startsWith("DiT")) {
                return "dit";
            }
            if (cls.startsWith("Flux")) {
                return "flux";
            }
            if (cls.startsWith("StableDiffusion")) {
                Path unet = entry.resolve("unet/config.json");
                JsonNode dim = Files.isRegularFile(unet) ? JSON.readTree(unet.toFile()).path("cross_attention_dim")
                        : JSON.missingNode();
                return dim.asInt(768) >= 1024 ? "sd2" : "sd1";
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
