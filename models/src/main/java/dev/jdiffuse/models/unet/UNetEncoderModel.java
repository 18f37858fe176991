package dev.jdiffuse.models.unet;

import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Scopes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.blocks.SinusoidalTimesteps;
import dev.jdiffuse.models.blocks.TimestepEmbedding;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

import java.util.ArrayList;
import java.util.List;

/**
 * The parts {@link UNet2DConditionModel} and {@link ControlNetModel} share, under diffusers' top-level names:
 * {@code conv_in}, {@code time_embedding}, {@code add_embedding} (SDXL text_time), {@code down_blocks},
 * {@code mid_block}; with the time conditioning and the encoder pass written once.
 */
public abstract class UNetEncoderModel extends Module {

    private final EncoderLayout layout;
    private final Conv2d convIn;
    private final SinusoidalTimesteps timeProj;
    private final TimestepEmbedding timeEmbedding;
    private final TimeIdFeatures addTimeProj;
    private final TimestepEmbedding addEmbedding;
    private final ModuleList<UNetDownBlock> downBlocks;
    private final UNetMidBlock midBlock;
    private DataType dtype = DataType.FLOAT32;

    UNetEncoderModel(EncoderLayout layout) {
        this.layout = layout;
        int c0 = layout.blockOutChannels().get(0);
        this.convIn = child("conv_in", new Conv2d(layout.inChannels(), c0, layout.convInKernel(), 1,
                (layout.convInKernel() - 1) / 2, true));
        this.timeProj = new SinusoidalTimesteps(c0, layout.flipSinToCos(), layout.freqShift());
        this.timeEmbedding = child("time_embedding", new TimestepEmbedding(c0, layout.timeEmbedDim()));
        if (layout.textTime()) {
            this.addTimeProj = new TimeIdFeatures(layout.additionTimeEmbedDim(), layout.flipSinToCos(),
                    layout.freqShift());
            this.addEmbedding = child("add_embedding", new TimestepEmbedding(layout.projectionInputDim(),
                    layout.timeEmbedDim()));
        } else {
            this.addTimeProj = null;
            this.addEmbedding = null;
        }
        this.downBlocks = child("down_blocks", new ModuleList<>());
        for (int i = 0; i < layout.levels(); i++) {
            downBlocks.add(layout.downBlock(i));
        }
        UNetMidBlock mid = layout.midBlock();
        this.midBlock = mid == null ? null : child("mid_block", mid);
    }

    EncoderLayout layout() {
        return layout;
    }

    /** The compute dtype (that of the loaded weights). */
    public DataType dtype() {
        return dtype;
    }

    void setDtype(DataType dtype) {
        this.dtype = dtype;
    }

    /** Casts an activation to the compute dtype (no copy when it already has it). */
    NDArray cast(NDArray x) {
        return x == null || x.getDataType() == dtype ? x : x.toType(dtype, false);
    }

    NDArray convIn(NDArray sample) {
        return convIn.forward(sample);
    }

    /**
     * {@code silu(emb)} [B, timeEmbedDim] in the sample's manager, where {@code emb} is the MLP of the sinusoidal
     * timestep features plus, for SDXL (text_time), {@code add_embedding(concat(text_embeds, flatten(sinusoid(time_ids))))}.
     * Every resnet applies SiLU to {@code emb} before projecting it, so it is applied once here.
     *
     * @param timesteps B values, or 1 value used for the whole batch
     */
    NDArray timeEmbedding(NDArray sample, double[] timesteps, UNetExtras extras) {
        long batch = sample.getShape().get(0);
        NDArray emb = timeEmbedding.forward(cast(timestepFeatures(sample, timesteps)));
        if (addEmbedding == null) {
            return Activations.silu(emb);
        }
        requireTextTime(extras);
        NDArray timeFeatures = addTimeProj.embed(extras.timeIds()).reshape(batch, -1);
        NDArray added = NDArrays.concat(new NDList(cast(extras.textEmbeds()), cast(timeFeatures)), -1);
        return Activations.silu(emb.add(addEmbedding.forward(added)));
    }

    /**
     * The sinusoidal features [B, c0] float32 of one timestep per row of {@code sample} (computed on the host, in the
     * sample's manager).
     *
     * @param timesteps B values, or 1 value used for the whole batch
     */
    NDArray timestepFeatures(NDArray sample, double[] timesteps) {
        return timestepFeatures(sample, timesteps, sample.getManager());
    }

    /** As {@link #timestepFeatures(NDArray, double[])}, in {@code manager} (on its device). */
    NDArray timestepFeatures(NDArray sample, double[] timesteps, ai.djl.ndarray.NDManager manager) {
        long batch = sample.getShape().get(0);
        double[] ts = timesteps;
        if (timesteps.length == 1 && batch != 1) {
            ts = new double[(int) batch];
            java.util.Arrays.fill(ts, timesteps[0]);
        } else if (timesteps.length != batch) {
            throw new IllegalArgumentException(timesteps.length + " timesteps for a batch of " + batch);
        }
        return timeProj.embed(manager, ts);
    }

    /** Fails naming the missing SDXL inputs when the config has text_time and {@code extras} lacks them. */
    void requireTextTime(UNetExtras extras) {
        if (layout.textTime() && extras.textEmbeds() == null) {
            throw new IllegalArgumentException("this model's config has addition_embed_type=\"text_time\" (SDXL): "
                    + "pass UNetExtras.sdxl(textEmbeds, timeIds)");
        }
    }

    /**
     * conv_in'ed sample through the down blocks; returns every skip connection in diffusers' order (the conv_in
     * output first); the last one is the input of the mid block.
     */
    List<NDArray> encode(NDArray h, NDArray emb, TextContext context) {
        List<NDArray> skips = new ArrayList<>();
        skips.add(h);
        for (UNetDownBlock block : downBlocks) {
            NDArray in = skips.get(skips.size() - 1);
            skips.addAll(Scopes.run(new NDList(in, emb), i -> new NDList(block.forward(in, emb, context)
                    .toArray(new NDArray[0]))));
        }
        return skips;
    }

    /** The mid block (identity when the config has none). */
    NDArray middle(NDArray h, NDArray emb, TextContext context) {
        return midBlock == null ? h : Scopes.run(new NDList(h, emb), () -> midBlock.forward(h, emb, context));
    }
}
