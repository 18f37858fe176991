package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * FLUX's residual streams grow past float16's range in real checkpoints; diffusers clips them to +-65504 after every
 * block when running in float16 (an inf would otherwise turn into NaN in the next norm). Other dtypes pass untouched.
 */
final class FluxHalf {

    private static final double MAX = 65504;

    private FluxHalf() {
    }

    static NDArray clip(NDArray x) {
        return x.getDataType() == DataType.FLOAT16 ? x.clip(-MAX, MAX) : x;
    }
}
