"""What the layout and cuDNN's algorithm search are worth on this GPU, measured with diffusers' own modules (random
weights, fp16): the SD 1.5 UNet at batch 2 and 32 and the SD VAE decoder at batch 1 and 16 (512x512), each in
NCHW and channels-last memory layout, with torch.backends.cudnn.benchmark off (PyTorch's default, and jdiffuse's
unless -Dai.djl.pytorch.cudnn_benchmark=true) and on. One JSON line per case. usage: python3 layout_probe.py"""
import json, os, sys, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import UNet2DConditionModel, AutoencoderKL

dev, dt = "cuda", torch.float16


def timeit(fn, warm=4, n=15):
    with torch.no_grad():
        for _ in range(warm):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def fmt(x, cl):
    return x.contiguous(memory_format=torch.channels_last) if cl else x


unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).to(dev, dt).eval()
vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                    up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                    sample_size=512).to(dev, dt).eval()
for bench in (False, True):
    torch.backends.cudnn.benchmark = bench
    for cl in (False, True):
        unet.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        vae.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        for b in (2, 32):
            x = fmt(torch.randn(b, 4, 64, 64, device=dev, dtype=dt), cl)
            ctx = torch.randn(b, 77, 768, device=dev, dtype=dt)
            t = torch.full((b,), 500.0, device=dev)
            ms = timeit(lambda: unet(x, t, encoder_hidden_states=ctx)) * 1e3
            print(json.dumps({"probe": "unet_sd15", "batch": b, "channels_last": cl, "cudnn_benchmark": bench,
                              "ms": round(ms, 2)}), flush=True)
        for b in (1, 16):
            z = fmt(torch.randn(b, 4, 64, 64, device=dev, dtype=dt), cl)
            ms = timeit(lambda: vae.decode(z).sample, warm=2, n=5) * 1e3
            print(json.dumps({"probe": "vae_decode_512", "batch": b, "channels_last": cl, "cudnn_benchmark": bench,
                              "ms": round(ms, 2), "ms_per_image": round(ms / b, 2)}), flush=True)
