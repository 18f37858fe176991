"""Scheduler fixtures for the samplers added after the shared fixture set, written by diffusers itself.

Runs where diffusers is installed (the device machine; no GPU needed):

    python bench/gpu/gen_sampler_fixtures.py OUT_DIR

and writes OUT_DIR/schedulers/<case>/{io.safetensors, meta.json, scheduler_config.json} in the layout of
../shared/fixtures/reference/schedulers (gen_fixtures.py's `schedulers()`): the same toy model
eps = tanh(x)*0.5 + 0.1*sin(3*t/1000) + 0.05*x*t/1000 evaluated on scale_model_input(x, t), x_init from
torch.Generator seed 10, the scheduler's own randn draws recorded as noises.i, and after every scheduler.step
call its prev_sample as trajectory.i (KDPM2's first-order calls return the midpoint sample, like Heun's).
Copy OUT_DIR/schedulers into samplers/src/test/resources/diffusers-cases/ to have SchedulerParityTest run them.
"""
import importlib
import inspect
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
import diffusers
from diffusers import (DPMSolverMultistepScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler,
                       FlowMatchHeunDiscreteScheduler,
                       KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler, LMSDiscreteScheduler,
                       UniPCMultistepScheduler)

SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
CASES = [
    ("lms", LMSDiscreteScheduler, dict(SD)),
    ("lms_karras", LMSDiscreteScheduler, dict(SD, use_karras_sigmas=True)),
    ("lms_leading", LMSDiscreteScheduler, dict(SD, timestep_spacing="leading", steps_offset=1)),
    ("kdpm2", KDPM2DiscreteScheduler, dict(SD)),
    ("kdpm2_karras", KDPM2DiscreteScheduler, dict(SD, use_karras_sigmas=True)),
    ("kdpm2_vpred_trailing", KDPM2DiscreteScheduler, dict(SD, prediction_type="v_prediction",
                                                          timestep_spacing="trailing")),
    ("kdpm2_ancestral", KDPM2AncestralDiscreteScheduler, dict(SD)),
    ("kdpm2_ancestral_karras", KDPM2AncestralDiscreteScheduler, dict(SD, use_karras_sigmas=True)),
    ("euler_beta", EulerDiscreteScheduler, dict(SD, use_beta_sigmas=True)),
    ("dpmpp_2m_beta", DPMSolverMultistepScheduler, dict(SD, use_beta_sigmas=True, algorithm_type="dpmsolver++")),
    ("unipc_beta", UniPCMultistepScheduler, dict(SD, use_beta_sigmas=True)),
    ("unipc_bh1", UniPCMultistepScheduler, dict(SD, solver_type="bh1")),
    ("unipc_bh1_karras", UniPCMultistepScheduler, dict(SD, solver_type="bh1", use_karras_sigmas=True)),
    ("flow_heun_shift3", FlowMatchHeunDiscreteScheduler, dict(shift=3.0)),
    ("flow_euler_karras_shift3", FlowMatchEulerDiscreteScheduler, dict(shift=3.0, use_karras_sigmas=True)),
    ("flow_euler_beta_shift3", FlowMatchEulerDiscreteScheduler, dict(shift=3.0, use_beta_sigmas=True)),
]


def toy_eps(x, t):
    tt = torch.as_tensor(t, dtype=torch.float32).reshape(-1)[0].item() / 1000.0
    return torch.tanh(x) * 0.5 + 0.1 * math.sin(3.0 * tt) + 0.05 * x * tt


def gen(seed):
    return torch.Generator().manual_seed(seed)


def main(out):
    for name, cls, cfg in CASES:
        for steps in (4, 25):
            s = cls(**cfg)
            s.set_timesteps(steps)
            mod = importlib.import_module(cls.__module__)
            noises = []
            orig = getattr(mod, "randn_tensor", None)
            if orig is not None:
                def rec(*a, **k):
                    n = orig(*a, **k)
                    noises.append(n.clone())
                    return n
                mod.randn_tensor = rec
            x = torch.randn(1, 4, 8, 8, generator=gen(10)) * float(getattr(s, "init_noise_sigma", 1.0))
            x0 = x.clone()
            traj = []
            for t in s.timesteps:
                xin = s.scale_model_input(x, t) if hasattr(type(s), "scale_model_input") else x
                eps = toy_eps(xin, t)
                if "generator" in inspect.signature(s.step).parameters:
                    x = s.step(eps, t, x, generator=gen(11 + len(traj))).prev_sample
                else:
                    x = s.step(eps, t, x).prev_sample
                traj.append(x.clone())
            if orig is not None:
                mod.randn_tensor = orig
            p = os.path.join(out, "schedulers", f"{name}_{steps}")
            os.makedirs(p, exist_ok=True)
            with open(os.path.join(p, "scheduler_config.json"), "w") as f:
                json.dump(dict(s.config), f, indent=1, default=str)
            flat = {"x_init": x0, "final": x,
                    "timesteps": s.timesteps.double() if s.timesteps.is_floating_point() else s.timesteps,
                    "sigmas": torch.as_tensor(s.sigmas).float()}
            for i, v in enumerate(traj):
                flat[f"trajectory.{i}"] = v
            for i, v in enumerate(noises):
                flat[f"noises.{i}"] = v
            if hasattr(s, "sigmas_interpol"):
                flat["sigmas_interpol"] = s.sigmas_interpol.float()
            flat = {k: v.detach().contiguous().cpu() for k, v in flat.items()}
            save_file(flat, os.path.join(p, "io.safetensors"))
            meta = {"kind": "scheduler", "class": cls.__name__, "steps": steps, "step_kwargs": {},
                    "set_timesteps_kwargs": {}, "init_noise_sigma": float(getattr(s, "init_noise_sigma", 1.0)),
                    "toy_model": "eps = tanh(x)*0.5 + 0.1*sin(3*tt) + 0.05*x*tt, tt = t/1000, x = scale_model_input(x,t)",
                    "noise_note": "noises.i are the scheduler's own random draws in order (if any)",
                    "tensors": {k: list(v.shape) for k, v in flat.items()},
                    "diffusers_version": diffusers.__version__, "torch_version": torch.__version__}
            with open(os.path.join(p, "meta.json"), "w") as f:
                json.dump(meta, f, indent=1)
            print("wrote", p, len(traj), "steps,", len(noises), "draws", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/sampler-fixtures")
