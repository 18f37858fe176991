"""diffusers' FluxTransformer2DModel with FLUX.1-dev's published config and random weights (made on the GPU, fp16):
one forward for a 1024x1024 image (4096 packed tokens) with a 512-token T5 context, batch 1, synchronised time per
forward and a CUDA-graph replay's (the GPU's own time). Pairs with `DenoiserBench flux` (same config and shapes).
usage: DIFFUSERS_SRC=... python3 flux_forward.py"""
import json, os, sys, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import FluxTransformer2DModel
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_timing import safe, timed, graph_ms  # noqa: E402

t0 = time.perf_counter()
with torch.device("cuda"):
    m = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38,
                               attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                               pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
m = m.to(torch.float16).eval()
load_s = time.perf_counter() - t0
x = torch.randn(1, 4096, 64, device="cuda", dtype=torch.float16)
ctx = torch.randn(1, 512, 4096, device="cuda", dtype=torch.float16)
pooled = torch.randn(1, 768, device="cuda", dtype=torch.float16)
t = torch.tensor([0.5], device="cuda", dtype=torch.float16)
g = torch.tensor([3.5], device="cuda", dtype=torch.float16)
img_ids = torch.zeros(4096, 3, device="cuda")
img_ids[:, 1] = torch.arange(64, device="cuda").repeat_interleave(64)
img_ids[:, 2] = torch.arange(64, device="cuda").repeat(64)
txt_ids = torch.zeros(512, 3, device="cuda")
run = lambda: m(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t, guidance=g,
                img_ids=img_ids, txt_ids=txt_ids, return_dict=False)[0]


with torch.no_grad():
    eager = timed(run, 10)
    graph = safe(graph_ms, run, 10)
print(json.dumps({"model": "flux1_dev_transformer", "impl": "diffusers", "res": 1024, "batch": 1, "dtype": "float16",
                  "step_ms": round(eager, 2), "graph_ms": graph, "random_init_s": round(load_s, 1),
                  "gpu": torch.cuda.get_device_name()}), flush=True)
