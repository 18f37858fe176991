"""diffusers end to end on a pipeline folder: one image at a time, then one batch of 4 and of N prompts (the
throughput a single caller who can batch gets). Euler, CFG 7.5, fp16, safety checker off (the server has none).
usage: DIFFUSERS_SRC=... python3 e2e_diffusers.py MODEL_DIR STEPS N   (SIZE in the environment, default 512)"""
import json, os, sys, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import DiffusionPipeline, EulerDiscreteScheduler

model, steps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
W = int(os.environ.get("SIZE", "512"))
kw = {"safety_checker": None, "requires_safety_checker": False} if os.path.isdir(f"{model}/safety_checker") else {}
pipe = DiffusionPipeline.from_pretrained(model, torch_dtype=torch.float16, **kw).to("cuda")
pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
pipe.set_progress_bar_config(disable=True)


def run(prompts):
    g = torch.Generator("cpu").manual_seed(1)
    return pipe(prompts, num_inference_steps=steps, guidance_scale=7.5, height=W, width=W, generator=g,
                output_type="pil").images


run(["warm up"]); run(["warm up"])
torch.cuda.synchronize(); t0 = time.perf_counter()
for i in range(4):
    run([f"prompt {i}"])
torch.cuda.synchronize(); one = (time.perf_counter() - t0) / 4
print(json.dumps({"impl": "diffusers", "case": "e2e_one_at_a_time", "model": os.path.basename(model), "steps": steps,
                  "size": W, "s_per_image": round(one, 4), "images_per_s": round(1 / one, 3),
                  "gpu": torch.cuda.get_device_name()}), flush=True)
for b in (4, n):
    run([f"p{i}" for i in range(b)])
    torch.cuda.synchronize(); t0 = time.perf_counter()
    run([f"p{i}" for i in range(b)])
    torch.cuda.synchronize(); dt = time.perf_counter() - t0
    print(json.dumps({"impl": "diffusers", "case": f"e2e_batch_{b}", "model": os.path.basename(model), "steps": steps,
                      "size": W, "s_per_batch": round(dt, 3), "images_per_s": round(b / dt, 3)}), flush=True)
