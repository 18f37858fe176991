"""diffusers' SD3Transformer2DModel with SD 3 medium's published config and random weights (made on the GPU, fp16):
one forward for a 1024x1024 image (128x128 latents) with a 333-token context, batch 2 (one CFG step), synchronised
time per forward and a CUDA-graph replay's (the GPU's own time). Pairs with `DenoiserBench sd3` (same config and
shapes). usage: DIFFUSERS_SRC=... python3 sd3_forward.py"""
import json, os, sys, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import SD3Transformer2DModel
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_timing import safe, timed, graph_ms  # noqa: E402

t0 = time.perf_counter()
with torch.device("cuda"):
    m = SD3Transformer2DModel(sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
                              num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
                              pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192)
m = m.to(torch.float16).eval()
load_s = time.perf_counter() - t0
b = 2
x = torch.randn(b, 16, 128, 128, device="cuda", dtype=torch.float16)
ctx = torch.randn(b, 333, 4096, device="cuda", dtype=torch.float16)
pooled = torch.randn(b, 2048, device="cuda", dtype=torch.float16)
t = torch.full((b,), 500.0, device="cuda")
run = lambda: m(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t,
                return_dict=False)[0]


with torch.no_grad():
    eager = timed(run, 10)
    graph = safe(graph_ms, run, 10)
print(json.dumps({"model": "sd3_medium_mmdit", "impl": "diffusers", "res": 1024, "batch": b, "dtype": "float16",
                  "step_ms": round(eager, 2), "graph_ms": graph, "random_init_s": round(load_s, 1),
                  "gpu": torch.cuda.get_device_name()}), flush=True)
