package dev.jdiffuse.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.TiledCoding;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * The tiled VAE decoding against diffusers' on the device ({@code bench/gpu/vae_tiling_parity.py} runs both): reads
 * {@code latents} [B, 4, h, w] (VAE space) from a safetensors file, decodes them in tiles of TILE pixels with a
 * {@code diffusers}-layout VAE, writes {@code decoded} and the untiled {@code whole} (float32) and prints one JSON line with the time of the tiled
 * and of the whole decoding (each the best of three, synchronised by reading the result back).
 *
 * <p>usage: {@code VaeTilingCheck VAE_FOLDER IN.safetensors OUT.safetensors cpu|gpu fp32|fp16 TILE}
 */
public final class VaeTilingCheck {

    private VaeTilingCheck() {
    }

    public static void main(String[] args) {
        Path folder = Path.of(args[0]);
        Device device = args[3].equals("cpu") ? Device.cpu() : Device.gpu();
        DataType dtype = args[4].equals("fp16") ? DataType.FLOAT16 : DataType.FLOAT32;
        int tile = Integer.parseInt(args[5]);
        try (NDManager m = NDManager.newBaseManager(device);
                SafetensorsFile in = SafetensorsFile.open(Path.of(args[1]))) {
            AutoencoderKL vae = AutoencoderKL.load(folder, m, dtype);
            NDArray latents = m.create(in.toFloatArray("latents"), new Shape(in.info("latents").shape()))
                    .toType(dtype, false);
            float[] decoded = null;
            float[] whole = null;
            double tiledMs = Double.MAX_VALUE;
            double wholeMs = Double.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                try (NDManager run = m.newSubManager()) {
                    latents.tempAttach(run);
                    long t0 = System.nanoTime();
                    decoded = vae.decodeTiled(latents, tile, TiledCoding.DIFFUSERS_OVERLAP)
                            .toType(DataType.FLOAT32, false).toFloatArray();
                    long t1 = System.nanoTime();
                    whole = vae.decode(latents).toType(DataType.FLOAT32, false).toFloatArray();
                    long t2 = System.nanoTime();
                    tiledMs = Math.min(tiledMs, (t1 - t0) / 1e6);
                    wholeMs = Math.min(wholeMs, (t2 - t1) / 1e6);
                }
            }
            Shape s = latents.getShape();
            int f = vae.config().downscale();
            long[] shape = {s.get(0), 3, s.get(2) * f, s.get(3) * f};
            // the first tile decoded alone: tells kernel differences on a tile's shape from differences of the tiling
            int t = tile / f;
            NDArray first = vae.decode(latents.get(new ai.djl.ndarray.index.NDIndex(":, :, 0:{}, 0:{}", t, t)))
                    .toType(DataType.FLOAT32, false);
            long[] firstShape = first.getShape().getShape();
            SafetensorsWriter.write(Path.of(args[2]), Map.of("decoded", TensorData.ofFloats(shape, decoded),
                    "whole", TensorData.ofFloats(shape, whole), "tile00", TensorData.ofFloats(firstShape,
                            first.toFloatArray())));
            System.out.printf(Locale.ROOT, "{\"check\":\"vae_tiling_java\",\"device\":\"%s\",\"dtype\":\"%s\","
                    + "\"latents\":\"%s\",\"tile\":%d,\"tiled_ms\":%.1f,\"whole_ms\":%.1f}%n", device, args[4], s,
                    tile, tiledMs, wholeMs);
        }
    }
}
