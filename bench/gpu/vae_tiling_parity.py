"""Tiled VAE decoding, jdiffuse against diffusers on one device (session 18).

usage: python3 vae_tiling_parity.py VAE_FOLDER WORK_DIR SIDE TILE
Writes latents [1, 4, SIDE/8, SIDE/8] (seed 0) to WORK_DIR/in.safetensors, decodes them with diffusers'
AutoencoderKL (vae.enable_tiling(), tile_sample_min_size = TILE) in fp32 and fp16 on CUDA, runs
dev.jdiffuse.bench.VaeTilingCheck on the same file for each, and prints one JSON line per dtype: the largest
difference between the two tiled decodings, and for scale the largest difference between diffusers' tiled and
whole decodings (what tiling itself changes) and diffusers' times.
"""
import json, os, subprocess, sys, time
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", "/tmp/d"))  # the kit's diffusers sources (session_setup.sh)
import torch
from safetensors.torch import save_file, load_file
from diffusers import AutoencoderKL

folder, work, side, tile = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
g = torch.Generator().manual_seed(0)
latents = torch.randn(1, 4, side // 8, side // 8, generator=g)
save_file({"latents": latents.contiguous()}, f"{work}/in.safetensors")


def best(f):
    t = []
    for _ in range(3):
        torch.cuda.synchronize(); t0 = time.perf_counter(); out = f(); torch.cuda.synchronize()
        t.append((time.perf_counter() - t0) * 1000)
    return out, min(t)


for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
    vae = AutoencoderKL.from_pretrained(folder, torch_dtype=dtype).to("cuda")
    z = latents.to("cuda", dtype)
    with torch.no_grad():
        whole, whole_ms = best(lambda: vae.decode(z).sample.float().cpu())
        vae.enable_tiling()
        vae.tile_sample_min_size = tile
        vae.tile_latent_min_size = tile // 8
        tiled, tiled_ms = best(lambda: vae.decode(z).sample.float().cpu())
        t = tile // 8
        tile00 = vae.decode(z[:, :, :t, :t]).sample.float().cpu()  # fits one tile: decoded whole
    del vae; torch.cuda.empty_cache()
    r = subprocess.run(["bash", ".gpu/gpu-env.sh", "java", "-Dai.djl.offline=true", "-cp", ".gpu/app/*",
                        "dev.jdiffuse.bench.VaeTilingCheck", folder, f"{work}/in.safetensors",
                        f"{work}/out_{name}.safetensors", "gpu", name, str(tile)],
                       capture_output=True, text=True, timeout=240)
    java_line = next((l for l in r.stdout.splitlines() if l.startswith("{")), None)
    rec = {"check": "vae_tiling_parity", "dtype": name, "side": side, "tile": tile,
           "diffusers_tiled_ms": round(tiled_ms, 1), "diffusers_whole_ms": round(whole_ms, 1),
           "tiled_vs_whole_max_abs": float((tiled - whole).abs().max()),
           "ref_max_abs": float(tiled.abs().max()), "java": json.loads(java_line) if java_line else None}
    if java_line:
        out = load_file(f"{work}/out_{name}.safetensors")
        ours = out["decoded"]
        d = (ours - tiled).abs()
        # the same comparison without tiles: how far the two implementations' plain decodings are apart here
        rec.update(java_tile00_vs_diffusers_tile00_max_abs=float((out["tile00"] - tile00).abs().max()),
                   java_whole_vs_diffusers_whole_max_abs=float((out["whole"] - whole).abs().max()),
                   java_whole_vs_diffusers_whole_mean_abs=float((out["whole"] - whole).abs().mean()))
        rec.update(java_vs_diffusers_max_abs=float(d.max()), java_vs_diffusers_mean_abs=float(d.mean()),
                   java_vs_diffusers_whole_max_abs=float((ours - whole).abs().max()))
    else:
        rec["java_stderr_tail"] = r.stderr[-600:]
    print(json.dumps(rec), flush=True)
