"""The first images a freshly started server makes: submit to PNG fetched, for the first request after the server
said it listens (and its model was loaded and warmed), then three more. usage: python3 first_image.py PORT MODEL LABEL
(SIZE, STEPS in the environment; default 512, 25)"""
import json, os, sys, time
from jd_http import generate

port, model, label = int(sys.argv[1]), sys.argv[2], sys.argv[3]
size, steps = int(os.environ.get("SIZE", 512)), int(os.environ.get("STEPS", 25))
B = f"http://127.0.0.1:{port}"


def one(seed):
    t0 = time.perf_counter()
    body = {"model": model, "prompt": "a photograph of an astronaut riding a horse", "steps": steps,
            "guidance_scale": 7.5, "width": size, "height": size, "seed": seed}
    j, _ = generate(B, body)
    return round(time.perf_counter() - t0, 3), j.get("timings")


runs = [one(s) for s in range(4)]
print(json.dumps({"first_images": label, "s": [r[0] for r in runs], "timings": [r[1] for r in runs]}), flush=True)
