package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;

import java.util.List;

/**
 * What a {@link ControlNetModel} returns, already multiplied by the conditioning scale: one residual per UNet skip
 * connection ({@code down_block_res_samples}) and the mid-block residual ({@code mid_block_res_sample}); pass them to
 * the UNet with {@link UNetExtras#withControl}.
 */
public record ControlNetOutput(List<NDArray> down, NDArray mid) {

    public ControlNetOutput {
        down = List.copyOf(down);
    }
}
