"""Asks a running jdiffuse server for the image diffusers_image.py makes (same prompt, seed, size, steps, CFG, the
model's own scheduler) and saves the PNG it serves.
usage: python3 server_image.py PORT MODEL OUT.png SIZE STEPS [SEED]"""
import json, sys, time
from jd_http import generate

port, model, out, size, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 42
B = f"http://127.0.0.1:{port}"


def once():
    body = {"model": model, "prompt": "a photograph of an astronaut riding a horse", "negative_prompt": "",
            "steps": steps, "guidance_scale": 7.5, "width": size, "height": size, "seed": seed}
    return generate(B, body)


once()  # warm
t0 = time.perf_counter()
job, png = once()
dt = time.perf_counter() - t0
open(out, "wb").write(png)
print(json.dumps({"impl": "jdiffuse", "model": model, "image_s": round(dt, 3), "timings": job.get("timings"),
                  "sampler": job.get("sampler") or job.get("parameters", {}).get("sampler"), "out": out}), flush=True)
