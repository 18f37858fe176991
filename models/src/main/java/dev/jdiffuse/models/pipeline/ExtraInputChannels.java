package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * A network that reads more input channels than the latents have: diffusers' inpainting UNets take
 * {@code cat([scale_model_input(latents), mask, masked_image_latents], dim=1)}, so the extra channels are appended
 * to the input the prediction adapter has already scaled, never scaled themselves.
 */
public final class ExtraInputChannels {

    private ExtraInputChannels() {
    }

    /**
     * @param extra [B, k, h, w], or null for {@code network} unchanged; tiled along the batch to the network's input
     *     (classifier-free guidance calls with [2B, C, h, w]: both halves read the same image)
     */
    public static Network concat(Network network, NDArray extra) {
        if (extra == null) {
            return network;
        }
        return (x, timestep, conditioning) -> {
            long times = x.getShape().get(0) / extra.getShape().get(0);
            NDArray rows = extra.toType(x.getDataType(), false);
            if (times > 1) {
                NDList copies = new NDList();
                for (long i = 0; i < times; i++) {
                    copies.add(rows);
                }
                rows = NDArrays.concat(copies, 0); // [e; e]: tiled, not interleaved (DJL's PyTorch tile is missing)
            }
            if (rows != extra) {
                rows.attach(x.getManager()); // freed with the step, as everything computed from x
            }
            return network.forward(x.concat(rows, 1), timestep, conditioning);
        };
    }
}
