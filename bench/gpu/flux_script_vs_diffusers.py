"""The server's scripted FLUX transformer forward (the TorchScript archive jdiffuse generates, run here from Python)
against diffusers' FluxTransformer2DModel: FLUX.1-dev's published config, the same random weights, one 1024x1024 image
(4096 packed tokens, 512 T5 tokens), batch 1, fp16, same GPU, same process. Output agreement, synced step time, the
GPU time of a CUDA-graph replay, and the kernels that differ: tells whether a gap between the server's FLUX forward
and diffusers' is the host (the server's JNI path) or the kernels. The archive and its weight order come from the
development machine (bench/gpu/dump_unet_script.sh writes .gpu/scripts/flux_script.pt and flux_names.txt).
usage: DIFFUSERS_SRC=... python3 flux_script_vs_diffusers.py SCRIPT_DIR"""
import json, os, sys
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import FluxTransformer2DModel
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_timing import safe, timed, graph_ms, kernels  # noqa: E402

sdir = sys.argv[1]
torch.manual_seed(0)
with torch.device("cuda"):
    m = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38,
                               attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                               pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
m = m.to(torch.float16).eval()
sd = m.state_dict()
w = [sd[n] for n in open(f"{sdir}/flux_names.txt").read().split()]
script = torch.jit.load(f"{sdir}/flux_script.pt", map_location="cuda")
torch._C._set_graph_executor_optimize(False)  # as the server runs its scripts (ScriptModules.run)
x = torch.randn(1, 4096, 64, device="cuda", dtype=torch.float16)
ctx = torch.randn(1, 512, 4096, device="cuda", dtype=torch.float16)
pooled = torch.randn(1, 768, device="cuda", dtype=torch.float16)
img_ids = torch.zeros(4096, 3, device="cuda")
img_ids[:, 1] = torch.arange(64, device="cuda").repeat_interleave(64)
img_ids[:, 2] = torch.arange(64, device="cuda").repeat(64)
txt_ids = torch.zeros(512, 3, device="cuda")
t, g = 0.5, 3.5
with torch.no_grad():
    # the script takes what the server makes on the host: the sinusoids of t x 1000 and g x 1000, and the RoPE tables
    tf = m.time_text_embed.time_proj(torch.tensor([t * 1000], device="cuda")).float()
    gf = m.time_text_embed.time_proj(torch.tensor([g * 1000], device="cuda")).float()
    cos, sin = m.pos_embed(torch.cat([txt_ids, img_ids], 0))
    cos, sin = cos.float().reshape(1, -1, 1, 128), sin.float().reshape(1, -1, 1, 128)
    tt = torch.tensor([t], device="cuda", dtype=torch.float16)
    gg = torch.tensor([g], device="cuda", dtype=torch.float16)
    run_d = lambda: m(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=tt,
                      guidance=gg, img_ids=img_ids, txt_ids=txt_ids, return_dict=False)[0]
    run_s = lambda: script.forward(x, ctx, pooled, tf, [gf], cos, sin, w)
    ref, out = run_d(), run_s()
    diff = (out.float() - ref.float()).abs().max().item() / ref.float().abs().max().item()
    line = {"bench": "flux_script_vs_diffusers", "batch": 1, "res": 1024, "rel_max_diff": round(diff, 6),
            "diffusers_ms": safe(timed, run_d, 10), "script_ms": safe(timed, run_s, 10),
            "diffusers_graph_ms": safe(graph_ms, run_d, 10), "script_graph_ms": safe(graph_ms, run_s, 10)}
    print(json.dumps(line), flush=True)
    kd, ks = safe(kernels, run_d), safe(kernels, run_s)
    if isinstance(kd, dict) and isinstance(ks, dict):
        rows = sorted(((k, kd.get(k, [0, 0]), ks.get(k, [0, 0])) for k in set(kd) | set(ks)),
                      key=lambda r: -abs(r[1][0] - r[2][0]))
        print(json.dumps({"bench": "flux_script_vs_diffusers", "kernel_ms_total": {
            "diffusers": round(sum(v[0] for v in kd.values()), 2), "script": round(sum(v[0] for v in ks.values()), 2)},
            "kernel_count": {"diffusers": sum(v[1] for v in kd.values()), "script": sum(v[1] for v in ks.values())},
            "largest_differences": [{"kernel": k, "diffusers_ms_count": d, "script_ms_count": s}
                                    for k, d, s in rows[:12]]}), flush=True)
    else:
        print(json.dumps({"bench": "flux_script_vs_diffusers", "kernels_error": [str(kd)[:300], str(ks)[:300]]}))
