"""Which scaled-dot-product-attention kernel is fastest for the shapes the SD 1.5, SDXL and SD VAE networks use, and
what each choice does to a whole forward. PyTorch picks one of flash, memory-efficient, cuDNN and math per call; the
server's scripts call `torch.scaled_dot_product_attention` and so get the same pick as diffusers. If another kernel is
faster for these shapes, a script can call it by name and beat diffusers' forward at the same numerics.

Prints JSON lines:
  {"probe": "sdpa", "shape": ..., "backend": ..., "gpu_ms": ...}      one attention call, CUDA-graph replay time
  {"probe": "model", "model": ..., "batch": ..., "backend": ..., "gpu_ms": ..., "rel_max_diff": ...}
                                                                      a whole diffusers forward under sdpa_kernel()
  {"probe": "kernels", "model": ..., "top": [...]}                    the largest kernels of the default forward
usage: DIFFUSERS_SRC=... python3 attention_backends.py [sdpa] [sd15] [vae] [sdxl]"""
import json, os, sys
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_timing import safe, graph_ms, kernels  # noqa: E402

BACKENDS = {"default": None, "flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION}
dt = torch.float16
which = sys.argv[1:] or ["sdpa", "sd15", "vae", "sdxl"]


def line(**kw):
    kw["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(kw), flush=True)


def under(backend, fn):
    """fn run with only `backend` allowed (None: PyTorch's own pick)"""
    if backend is None:
        return fn

    def run():
        with sdpa_kernel([backend]):
            return fn()
    return run


# (name, batch rows x heads, query tokens, key tokens, head dim): SD 1.5 at 512x512 (heads of 40/80/160 channels,
# self-attention and cross-attention over 77 tokens), SDXL at 1024x1024 (heads of 64), the SD VAE's mid-block
# attention (one head of 512 over every latent pixel)
def shapes(rows):
    return [("sd15_64x64_self", rows, 8, 4096, 4096, 40), ("sd15_64x64_cross", rows, 8, 4096, 77, 40),
            ("sd15_32x32_self", rows, 8, 1024, 1024, 80), ("sd15_16x16_self", rows, 8, 256, 256, 160),
            ("sdxl_64x64_self", rows, 10, 4096, 4096, 64), ("sdxl_32x32_self", rows, 20, 1024, 1024, 64),
            ("sdxl_32x32_cross", rows, 20, 1024, 77, 64)]


with torch.no_grad():
    if "sdpa" in which:
        cases = shapes(32) + shapes(2) + [("vae_512", 16, 1, 4096, 4096, 512), ("vae_512", 1, 1, 4096, 4096, 512)]
        for name, b, h, nq, nk, d in cases:
            q = torch.randn(b, h, nq, d, device="cuda", dtype=dt)
            k = torch.randn(b, h, nk, d, device="cuda", dtype=dt)
            v = torch.randn(b, h, nk, d, device="cuda", dtype=dt)
            ref = F.scaled_dot_product_attention(q, k, v).float()
            for bn, be in BACKENDS.items():
                fn = under(be, lambda: F.scaled_dot_product_attention(q, k, v))
                out = safe(fn)
                diff = out if isinstance(out, str) else round((out.float() - ref).abs().max().item(), 5)
                line(probe="sdpa", shape=name, batch=b, heads=h, q=nq, kv=nk, head_dim=d, backend=bn,
                     gpu_ms=safe(graph_ms, fn), max_diff=diff)
            del q, k, v, ref
            torch.cuda.empty_cache()

    from diffusers import UNet2DConditionModel, AutoencoderKL

    def model_case(name, model, make_inputs, batches, fwd):
        for b in batches:
            inputs = make_inputs(b)
            ref = fwd(model, inputs).float()
            scale = ref.abs().max().item()
            for bn, be in BACKENDS.items():
                fn = under(be, lambda: fwd(model, inputs))
                out = safe(fn)
                diff = out if isinstance(out, str) else round((out.float() - ref).abs().max().item() / scale, 6)
                line(probe="model", model=name, batch=b, backend=bn, gpu_ms=safe(graph_ms, fn), rel_max_diff=diff)
            top = safe(kernels, lambda: fwd(model, inputs))
            if not isinstance(top, str):
                top = sorted(top.items(), key=lambda kv: -kv[1][0])[:12]
            line(probe="kernels", model=name, batch=b, top=top)
            del inputs, ref
            torch.cuda.empty_cache()

    def unet_inputs(latent, ctx_dim, sdxl):
        def make(b):
            kw = {}
            if sdxl:
                kw = {"added_cond_kwargs": {
                    "text_embeds": torch.randn(b, 1280, device="cuda", dtype=dt),
                    "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * b, device="cuda", dtype=dt)}}
            return (torch.randn(b, 4, latent, latent, device="cuda", dtype=dt), torch.full((b,), 500.0, device="cuda"),
                    torch.randn(b, 77, ctx_dim, device="cuda", dtype=dt), kw)
        return make

    unet_fwd = lambda m, i: m(i[0], i[1], i[2], **i[3]).sample  # noqa: E731

    def halved(m):
        """random weights scaled by 0.5, as write_published.py does: fp16 activations stay finite at full depth"""
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(0.5)
        return m
    torch.manual_seed(0)
    if "sd15" in which:
        with torch.device("cuda"):
            m = halved(UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8).to(dt).eval())
        model_case("unet_sd15", m, unet_inputs(64, 768, False), [2, 32], unet_fwd)
        del m
        torch.cuda.empty_cache()
    if "vae" in which:
        with torch.device("cuda"):
            m = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                              up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                              sample_size=512).to(dt).eval()
            halved(m)
        model_case("vae_decode_512", m, lambda b: torch.randn(b, 4, 64, 64, device="cuda", dtype=dt), [1, 16],
                   lambda m, z: m.decode(z).sample)
        del m
        torch.cuda.empty_cache()
    if "sdxl" in which:
        with torch.device("cuda"):
            m = UNet2DConditionModel(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                                     down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                     up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                     transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
                                     cross_attention_dim=2048, use_linear_projection=True,
                                     addition_embed_type="text_time", addition_time_embed_dim=256,
                                     projection_class_embeddings_input_dim=2816).to(dt).eval()
            halved(m)
        model_case("unet_sdxl", m, unet_inputs(128, 2048, True), [2, 8], unet_fwd)
