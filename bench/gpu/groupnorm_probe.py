"""Where the generic (non-vectorised) elementwise kernel's time goes, and whether GroupNorm written another way is
faster. In session 14's kernel tables `elementwise_kernel<128, 4, gpu_kernel_impl_nocast<...>>` took 28.8 of 98.9 ms
of diffusers' SD 1.5 UNet at batch 32 and 110 of 230 ms of the SD VAE decoder at batch 16. PyTorch's CUDA GroupNorm
applies its per-(sample, channel) scale and shift through a TensorIterator with broadcast operands, which takes that
path. Candidates, same numerics up to rounding:
  native     F.group_norm
  bn         batch_norm in training mode over x.view(1, N*G, -1) (statistics per group), then batch_norm in eval mode
             over x.view(N, C, -1) with zero mean, unit variance and the affine weights (per channel)
  bn_noaff   the first batch_norm alone (an affine folded into the next linear map)
  ln         layer_norm over x.view(N, G, -1), then addcmul with the per-channel weights
  ln_noaff   the layer_norm alone
Prints {"probe": "gn", "shape": [...], "variant": ..., "gpu_ms": ..., "max_diff": ...} (diff against native, in fp32
on the same fp16 input) and {"probe": "ops", "model": ..., "top": [[op, ms, count], ...]} (aten ops by their own GPU
time in diffusers' forward).
usage: DIFFUSERS_SRC=... python3 groupnorm_probe.py [gn] [ops]"""
import json, math, os, sys
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_timing import safe, graph_ms, ops  # noqa: E402

dt = torch.float16
which = sys.argv[1:] or ["gn", "ops"]


def line(**kw):
    kw["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(kw), flush=True)


def variants(x, g, w, b, eps):
    n, c = x.shape[0], x.shape[1]
    one_g, zero_g = torch.ones(n * g, device="cuda"), torch.zeros(n * g, device="cuda")
    zero_c, one_c = torch.zeros(c, device="cuda"), torch.ones(c, device="cuda")
    wf, bf = (w.float() * math.sqrt(1 + eps)), b.float()
    wv, bv = w.view(c, *([1] * (x.dim() - 2))), b.view(c, *([1] * (x.dim() - 2)))
    m = c // g * x[0, 0].numel()

    def bn_norm():
        return F.batch_norm(x.reshape(1, n * g, -1), None, None, one_g, zero_g, True, 0.0, eps).view_as(x)

    def ln_norm():
        return F.layer_norm(x.reshape(n, g, m), (m,), None, None, eps).view_as(x)

    return {
        "native": lambda: F.group_norm(x, g, w, b, eps),
        "bn": lambda: F.batch_norm(bn_norm().view(n, c, -1), zero_c, one_c, wf, bf, False, 0.0, eps).view_as(x),
        "bn_noaff": bn_norm,
        "ln": lambda: torch.addcmul(bv, ln_norm(), wv),
        "ln_noaff": ln_norm,
    }


with torch.no_grad():
    if "gn" in which:
        # SD 1.5 UNet at 512x512, batch 32 (CFG of 16 images) and 2; the SD VAE decoder at 512x512, batch 16
        cases = [(32, 320, 64), (32, 640, 32), (32, 1280, 16), (2, 320, 64), (2, 1280, 16),
                 (16, 512, 64), (16, 512, 128), (16, 512, 256), (16, 256, 512), (16, 128, 512)]
        for n, c, hw in cases:
            eps = 1e-5 if c != 512 or n != 16 else 1e-6
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=dt) * 3 + 1
            w = (torch.rand(c, device="cuda") + 0.5).to(dt)
            b = torch.randn(c, device="cuda").to(dt)
            ref = F.group_norm(x.float(), 32, w.float(), b.float(), eps)
            ref_noaff = F.group_norm(x.float(), 32, None, None, eps)
            for name, fn in variants(x, 32, w, b, eps).items():
                out = safe(fn)
                r = ref_noaff if name.endswith("noaff") else ref
                diff = out if isinstance(out, str) else round((out.float() - r).abs().max().item(), 5)
                line(probe="gn", shape=[n, c, hw, hw], variant=name, gpu_ms=safe(graph_ms, fn), max_diff=diff)
            del x, ref, ref_noaff
            torch.cuda.empty_cache()
    if "ops" in which:
        from diffusers import UNet2DConditionModel, AutoencoderKL
        torch.manual_seed(0)
        with torch.device("cuda"):
            unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).to(dt).eval()
            vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                                up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                                sample_size=512).to(dt).eval()
        for m in (unet, vae):
            for p in m.parameters():
                if p.dim() > 1:
                    p.mul_(0.5)
        x = torch.randn(32, 4, 64, 64, device="cuda", dtype=dt)
        t = torch.full((32,), 500.0, device="cuda")
        ctx = torch.randn(32, 77, 768, device="cuda", dtype=dt)
        z = torch.randn(16, 4, 64, 64, device="cuda", dtype=dt)
        for name, fn in (("unet_sd15_b32", lambda: unet(x, t, ctx)), ("vae_decode_512_b16", lambda: vae.decode(z))):
            for by_shape in (False, True):
                o = safe(ops, fn, by_shape)
                if not isinstance(o, str):
                    o = [[k, round(v[0], 3), round(v[1], 1)] for k, v in sorted(o.items(), key=lambda kv: -kv[1][0])[:25]]
                line(probe="ops", model=name, by_shape=by_shape, top=o)
