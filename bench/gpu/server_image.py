"""Asks a running jdiffuse server for the image diffusers_image.py makes (same prompt, seed, size, steps, CFG, the
model's own scheduler) and saves the PNG it serves.
usage: python3 server_image.py PORT MODEL OUT.png SIZE STEPS [SEED]"""
import json, sys, time, urllib.request

port, model, out, size, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 42
B = f"http://127.0.0.1:{port}"


def call(method, path, body=None):
    req = urllib.request.Request(B + path, data=json.dumps(body).encode() if body else None, method=method,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def once():
    body = {"model": model, "prompt": "a photograph of an astronaut riding a horse", "negative_prompt": "",
            "steps": steps, "guidance_scale": 7.5, "width": size, "height": size, "seed": seed}
    gid = json.loads(call("POST", "/v1/generations", body))["id"]
    while True:
        j = json.loads(call("GET", f"/v1/generations/{gid}"))
        if j.get("status") in ("succeeded", "failed", "cancelled"):
            assert j["status"] == "succeeded", j
            return j, call("GET", f"/v1/generations/{gid}/images/0")
        time.sleep(0.005)


once()  # warm
t0 = time.perf_counter()
job, png = once()
dt = time.perf_counter() - t0
open(out, "wb").write(png)
print(json.dumps({"impl": "jdiffuse", "model": model, "image_s": round(dt, 3), "timings": job.get("timings"),
                  "sampler": job.get("sampler") or job.get("parameters", {}).get("sampler"), "out": out}), flush=True)
