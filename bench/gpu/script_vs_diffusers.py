"""The server's scripted UNet forward (the TorchScript archive jdiffuse generates, run here from Python) against
diffusers' own UNet, same random weights, same GPU, same process: output agreement, synced step time, GPU time of a
CUDA-graph replay, and the kernels that differ (torch.profiler), so a gap between the two forwards can be traced to
the ops that make it. The archive and its weight order come from the development machine
(`bench/gpu/dump_unet_script.sh` writes `.gpu/scripts/{sd15,sdxl}_unet_script.pt` and `..._names.txt`).
usage: DIFFUSERS_SRC=... python3 script_vs_diffusers.py sd15|sdxl SCRIPT_DIR BATCHES(2,32)"""
import json, os, sys, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import UNet2DConditionModel
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_timing import safe, timed, graph_ms, kernels, ops  # noqa: E402

family, sdir, batches = sys.argv[1], sys.argv[2], [int(b) for b in sys.argv[3].split(",")]
torch.manual_seed(0)
if family == "sd15":
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    latent, ctx_dim = 64, 768
else:
    unet = UNet2DConditionModel(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
                                cross_attention_dim=2048, use_linear_projection=True,
                                addition_embed_type="text_time", addition_time_embed_dim=256,
                                projection_class_embeddings_input_dim=2816)
    latent, ctx_dim = 128, 2048
with torch.no_grad():
    for p in unet.parameters():
        if p.dim() > 1:
            p.mul_(0.5)
unet = unet.to("cuda", torch.float16).eval()
sd = unet.state_dict()
names = open(f"{sdir}/{family}_unet_names.txt").read().split()
half = unet.config.addition_time_embed_dim // 2 if family == "sdxl" else 0
extra = {"#time_id_freqs": torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half, dtype=torch.float32)
                                     / half).reshape(1, -1).cuda()} if half else {}
w = [extra[n] if n in extra else sd[n] for n in names]
script = torch.jit.load(f"{sdir}/{family}_unet_script.pt", map_location="cuda")
# VARIANTS=a,b: scripts written with other generator settings into SCRIPT_DIR/a/, SCRIPT_DIR/b/ (same weight order),
# each timed beside the default one (dump_unet_script.sh with JAVA_OPTS="-D..." and OUT_DIR SCRIPT_DIR/a)
variants = {v: torch.jit.load(f"{sdir}/{v}/{family}_unet_script.pt", map_location="cuda")
            for v in os.environ.get("VARIANTS", "").split(",") if v}
torch._C._set_graph_executor_optimize(False)  # as the server runs its scripts (ScriptModules.run)


def line(**kw):
    print(json.dumps({"bench": "script_vs_diffusers", "family": family, **kw}), flush=True)


def op_diff(b, run_d, run_s, by_shape, top):
    od, os_ = safe(ops, run_d, by_shape), safe(ops, run_s, by_shape)
    if isinstance(od, str) or isinstance(os_, str):
        line(batch=b, ops_error=[od, os_])
        return
    rows = [(k, od.get(k, [0, 0]), os_.get(k, [0, 0])) for k in set(od) | set(os_)]
    rows = [r for r in rows if r[1][1] != r[2][1] or abs(r[1][0] - r[2][0]) > 0.05]
    rows.sort(key=lambda r: -(abs(r[1][0] - r[2][0]) * 100 + abs(r[1][1] - r[2][1])))
    line(batch=b, op_differences_by_shape=by_shape,
         ops=[{"op": k, "diffusers_ms_count": [round(d[0], 3), round(d[1], 1)],
               "script_ms_count": [round(s[0], 3), round(s[1], 1)]} for k, d, s in rows[:top]])


with torch.no_grad():
    for b in batches:
        x = torch.randn(b, 4, latent, latent, device="cuda", dtype=torch.float16)
        t = torch.full((b,), 500.0, device="cuda")
        ctx = torch.randn(b, 77, ctx_dim, device="cuda", dtype=torch.float16)
        kw, add = {}, []
        if family == "sdxl":
            te = torch.randn(b, 1280, device="cuda", dtype=torch.float16)
            ids = torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * b, device="cuda", dtype=torch.float16)
            kw = {"added_cond_kwargs": {"text_embeds": te, "time_ids": ids}}
            add = [te, ids]
        tproj = unet.time_proj(t).float()
        kv = script.project(ctx, w)
        ref = unet(x, t, ctx, **kw).sample
        out = script.forward(x, tproj, kv, w, add, [])
        diff = (out.float() - ref.float()).abs().max().item() / ref.float().abs().max().item()
        run_d = lambda: unet(x, t, ctx, **kw)
        run_s = lambda: script.forward(x, tproj, kv, w, add, [])
        # the script with the cross-attention K/V projected inside each call (as diffusers does): isolates that saving
        run_s_kv = lambda: script.forward(x, tproj, script.project(ctx, w), w, add, [])
        line(batch=b, rel_max_diff=round(diff, 6), diffusers_ms=safe(timed, run_d), script_ms=safe(timed, run_s),
             script_with_kv_ms=safe(timed, run_s_kv), diffusers_graph_ms=safe(graph_ms, run_d),
             script_graph_ms=safe(graph_ms, run_s))
        for v, vs in variants.items():
            run_v = lambda: vs.forward(x, tproj, kv, w, add, [])  # noqa: E731
            vo = run_v()
            line(batch=b, variant=v,
                 rel_max_diff=round((vo.float() - ref.float()).abs().max().item() / ref.float().abs().max().item(), 6),
                 rel_max_diff_vs_script=round((vo.float() - out.float()).abs().max().item()
                                              / out.float().abs().max().item(), 6),
                 script_ms=safe(timed, run_s), variant_ms=safe(timed, run_v),
                 script_graph_ms=safe(graph_ms, run_s), variant_graph_ms=safe(graph_ms, run_v))
        kd, ks = safe(kernels, run_d), safe(kernels, run_s)
        if isinstance(kd, str) or isinstance(ks, str):
            line(batch=b, kernels_error=[kd, ks] if isinstance(kd, str) else ks)
            continue
        keys = set(kd) | set(ks)
        rows = sorted(((k, kd.get(k, [0, 0]), ks.get(k, [0, 0])) for k in keys),
                      key=lambda r: -abs(r[1][0] - r[2][0]))
        line(batch=b, kernel_ms_total={"diffusers": round(sum(v[0] for v in kd.values()), 2),
                                       "script": round(sum(v[0] for v in ks.values()), 2)},
             kernel_count={"diffusers": sum(v[1] for v in kd.values()), "script": sum(v[1] for v in ks.values())},
             largest_differences=[{"kernel": k, "diffusers_ms_count": d, "script_ms_count": s} for k, d, s in rows[:14]])
        if os.environ.get("OPS"):
            op_diff(b, run_d, run_s, False, 40)
            op_diff(b, run_d, run_s, True, 40)
