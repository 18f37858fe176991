package dev.jdiffuse.server.models;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.checkpoint.FluxSingleFile;
import dev.jdiffuse.models.checkpoint.Sd3TextEncoderFiles;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.vae.AutoencoderTiny;

import java.nio.file.Files;
import java.nio.file.Path;

/** The production {@link PipelineLoader}: {@link Pipelines#open} with the server's device and dtype options. */
public final class ModelLoaders {

    /** A folder of this name beside the models holds a TAESD (AutoencoderTiny) used for previews. */
    public static final String TAESD_FOLDER = "taesd";
    /**
     * A single-file checkpoint {@code X.safetensors} takes its configs, tokenizers and scheduler from {@code X.config/}
     * where that folder holds them; without one its family and configs are detected from its keys and shapes, and its
     * tokenizers use the CLIP vocabulary bundled in the jar (or {@code X.tokenizer/} for another vocabulary).
     * Pickles ({@code .ckpt}, {@code .pt}, {@code .pth}, {@code .bin}) are refused with the reason, and logged.
     */
    public static final String CONFIG_SUFFIX = ".config";

    private ModelLoaders() {
    }

    public static PipelineLoader production() {
        return production(null);
    }

    /**
     * The production loader with SD 3 / 3.5 and FLUX's T5 encoder kept on {@code t5Device} in float32
     * ({@code --t5-device}), or with the model when null.
     */
    public static PipelineLoader production(String t5Device) {
        Device t5 = t5Device == null ? null : device(t5Device);
        return (entry, device, dtype) -> {
            Device d = device(device);
            DataType t = dtype(dtype, d);
            AutoencoderTiny taesd = null;
            Path taesdDir = entry.toAbsolutePath().getParent().resolve(TAESD_FOLDER);
            if (Files.isDirectory(taesdDir)) {
                taesd = AutoencoderTiny.load(taesdDir, NDManager.newBaseManager(d), t);
            }
            Path config = null;
            if (Files.isRegularFile(entry)) {
                Path beside = entry.resolveSibling(Pipelines.nameOf(entry) + CONFIG_SUFFIX);
                // no config folder: everything detected from the file (Pipelines.open)
                config = Files.isDirectory(beside) ? beside : null;
            }
            return Pipelines.open(entry, new LoadOptions(d, t, taesd, config).withT5Device(t5));
        };
    }

    /**
     * Whether a models-folder entry should be loaded as a model: not hidden, not the TAESD folder, not a single-file
     * checkpoint's config or tokenizer folder, not the {@code text_encoders/} folder SD 3.5 and FLUX single files take
     * their encoders from, not the {@code ae.safetensors} VAE (or {@code vae/} folder holding it) a FLUX transformer
     * file takes beside it, nor the diffusers {@code vae/} folder an SD 3 MMDiT GGUF takes beside it. Anything else is
     * tried, so a broken entry is logged with its reason.
     */
    public static boolean isModelEntry(Path entry) {
        String n = entry.getFileName().toString();
        return !n.startsWith(".") && !n.equals(TAESD_FOLDER) && !n.endsWith(CONFIG_SUFFIX)
                && !n.endsWith(".tokenizer") && !n.endsWith(".tokenizer_2") && !n.equals("tokenizer")
                && !(n.equals(Sd3TextEncoderFiles.FOLDER) && Files.isDirectory(entry))
                && !(n.equals(FluxSingleFile.AE_FILE) && Files.isRegularFile(entry))
                && !(n.equals("vae") && (Files.isRegularFile(entry.resolve(FluxSingleFile.AE_FILE))
                        || isDiffusersVae(entry)));
    }

    /** A diffusers VAE folder (its config and weights, no pipeline index): what an SD 3 MMDiT GGUF takes beside it. */
    private static boolean isDiffusersVae(Path folder) {
        return Files.isRegularFile(folder.resolve("config.json"))
                && Files.isRegularFile(folder.resolve("diffusion_pytorch_model.safetensors"))
                && !Files.exists(folder.resolve("model_index.json"));
    }

    /**
     * The DJL device of a {@code --device}/{@code --devices} entry: {@code cpu}, {@code cuda} (the first GPU),
     * {@code cuda:N}, or {@code auto} (the first GPU if PyTorch sees one, else the CPU).
     *
     * @throws IllegalStateException the GPU named is not visible to PyTorch
     */
    public static Device device(String option) {
        if (option.startsWith("cuda")) {
            int index = option.equals("cuda") ? 0 : Integer.parseInt(option.substring("cuda:".length()));
            int visible = Engine.getInstance().getGpuCount();
            if (index >= visible) {
                throw new IllegalStateException("device " + option + ": " + (visible == 0
                        ? "no CUDA device is visible to PyTorch"
                        : "PyTorch sees " + visible + " CUDA device(s), cuda:0 to cuda:" + (visible - 1)));
            }
            return Device.gpu(index);
        }
        return switch (option) {
            case "cpu" -> Device.cpu();
            default -> Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        };
    }

    public static DataType dtype(String option, Device device) {
        return switch (option) {
            case "fp32" -> DataType.FLOAT32;
            case "fp16" -> DataType.FLOAT16;
            case "bf16" -> throw new IllegalArgumentException("--dtype bf16: DJL 0.35.1's PyTorch binding aborts the "
                    + "JVM on bfloat16 arrays; use fp16 or fp32");
            default -> device.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        };
    }
}
