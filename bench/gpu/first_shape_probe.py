"""What a batch size met for the first time costs in PyTorch itself (diffusers' SD 1.5 UNet, random weights, fp16):
the first and the second forward at batch sizes 2, 4, 6, 10 and 32, synchronised, with cuDNN on (the default) and
off. One JSON line per case. usage: python3 first_shape_probe.py"""
import json, os, sys, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import UNet2DConditionModel

dev, dt = "cuda", torch.float16
unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).to(dev, dt).eval()


def once(b):
    x = torch.randn(b, 4, 64, 64, device=dev, dtype=dt)
    ctx = torch.randn(b, 77, 768, device=dev, dtype=dt)
    t = torch.full((b,), 500.0, device=dev)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        unet(x, t, encoder_hidden_states=ctx)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


for cudnn in (True, False):
    torch.backends.cudnn.enabled = cudnn
    sizes = (2, 4, 6, 10, 32) if cudnn else (12, 14, 18)  # sizes not met before, so each is a first
    for b in sizes:
        first = once(b)
        second = once(b)
        print(json.dumps({"probe": "first_shape_unet_sd15", "cudnn": cudnn, "batch": b, "first_ms": round(first, 1),
                          "second_ms": round(second, 1)}), flush=True)
