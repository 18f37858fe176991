"""On the GPU machine: one image with diffusers from a pipeline folder, seeded as the server seeds (a torch CPU
generator, no latents given), saved as an 8-bit PNG rounded as diffusers' numpy_to_pil does.
usage: DIFFUSERS_SRC=... python3 diffusers_image.py MODEL OUT.png SIZE STEPS fp16|fp32 [SEED]"""
import os, sys, json, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import DiffusionPipeline

model, out, size, steps, dtype = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 42
PROMPT = "a photograph of an astronaut riding a horse"
torch.cuda.synchronize()
t0 = time.perf_counter()
# the server ignores the safety checker (as ComfyUI and AUTOMATIC1111 do); so does this run
kw = {"safety_checker": None, "requires_safety_checker": False} if os.path.isdir(os.path.join(model, "safety_checker")) else {}
pipe = DiffusionPipeline.from_pretrained(model, torch_dtype=torch.float16 if dtype == "fp16" else torch.float32, **kw)
pipe.to("cuda")
torch.cuda.synchronize()
load_s = time.perf_counter() - t0


def run():
    g = torch.Generator("cpu").manual_seed(seed)
    return pipe(PROMPT, negative_prompt="", num_inference_steps=steps, guidance_scale=7.5, height=size, width=size,
                generator=g, output_type="pil").images[0]


run()  # warm
torch.cuda.synchronize()
t0 = time.perf_counter()
img = run()
torch.cuda.synchronize()
gen_s = time.perf_counter() - t0
img.save(out)
print(json.dumps({"impl": "diffusers", "model": os.path.basename(model), "dtype": dtype, "scheduler":
                  type(pipe.scheduler).__name__, "load_s": round(load_s, 2), "image_s": round(gen_s, 3),
                  "out": out}), flush=True)
