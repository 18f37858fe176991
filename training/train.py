#!/usr/bin/env python3
"""Train the default emoji model (SD-1 layout, diffusers format) from scratch, evaluate it, export fp16.

Phases, each under a wall-clock budget so one run fits the device machine's 10-minute limit:
  1. VAE   AutoencoderKL f=4 (128x128x3 -> 32x32x4), L1 + MSE + tiny KL; skipped when --resume has a vae/
  2. UNet + text encoder, jointly from scratch: epsilon prediction, DDPM scaled-linear betas, 10 % empty captions
     (classifier-free guidance); sampling weighted so that every (concept, style) pair counts the same
  3. export the fp16 pipeline folder, samples grid, and evaluation (eval_emoji.py) on held-out prompts
Resume: --resume DIR (an exported fp16 folder) continues from its weights (fresh optimiser, short warm-up).
"""
import argparse, io, json, math, os, shutil, sys, time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", "/tmp/d"))
from diffusers import AutoencoderKL, UNet2DConditionModel, DDIMScheduler, EulerDiscreteScheduler  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--data", default=".train/emoji_data.npz")
p.add_argument("--tokenizer", default=".train/tokenizer")
p.add_argument("--out", required=True)
p.add_argument("--resume", default=None)
p.add_argument("--vae-seconds", type=float, default=120)
p.add_argument("--unet-seconds", type=float, default=330)
p.add_argument("--batch", type=int, default=768)
p.add_argument("--lr", type=float, default=5e-4)
p.add_argument("--budget-mb", type=float, default=24.5, help="fp16 weights, MiB")
p.add_argument("--unet-channels", default="64,96,128")
p.add_argument("--eval-seconds", type=float, default=75)
args = p.parse_args()
T0 = time.time()
dev = "cuda"
torch.manual_seed(0)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


# ---------------------------------------------------------------- data
z = np.load(args.data)
meta = json.loads(str(z["meta"]))
items, blob, off = meta["items"], z["blob"], z["offsets"]


def decode(i):
    a = np.asarray(Image.open(io.BytesIO(blob[off[i]:off[i + 1]].tobytes())).convert("RGB"))
    if a.shape[0] != 128:  # Noto / Twemoji ship 64 px: bicubic to the model's 128 px
        a = np.asarray(Image.fromarray(a).resize((128, 128), Image.BICUBIC))
    return a


with ThreadPoolExecutor(16) as ex:
    imgs = np.stack(list(ex.map(decode, range(len(items)))))
X = torch.from_numpy(imgs).to(dev).permute(0, 3, 1, 2).contiguous()  # uint8 [N,3,128,128]
split = torch.tensor([m["split"] for m in items], device=dev)
weight = torch.tensor([m["weight"] for m in items], device=dev, dtype=torch.float)
train_idx = torch.nonzero(split == 0).squeeze(1)
train_w = weight[train_idx]
log("images", X.shape, "train", len(train_idx))


def to_float(u8):
    return u8.float() / 127.5 - 1.0


if args.resume:
    args.tokenizer = f"{args.resume}/tokenizer"
tok = CLIPTokenizer.from_pretrained(args.tokenizer)
log("tokenizer", type(tok).__name__, len(tok), tok("a red apple").input_ids)
captions = [m["caption"] for m in items]
ids_all = tok(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids.to(dev)
empty_ids = tok([""], padding="max_length", max_length=77, return_tensors="pt").input_ids.to(dev)

# ---------------------------------------------------------------- models
VAE_CFG = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 3,
               up_block_types=["UpDecoderBlock2D"] * 3, block_out_channels=[64, 128, 128], layers_per_block=1,
               latent_channels=4, norm_num_groups=32, sample_size=128, act_fn="silu")
TEXT_CFG = dict(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=49406, eos_token_id=49407,
                pad_token_id=1, projection_dim=64)


def unet_cfg(ch):
    return dict(sample_size=32, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=list(ch),
                down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=64, attention_head_dim=4,
                norm_num_groups=32)


def nparams(m):
    return sum(x.numel() for x in m.parameters())


if args.resume:
    vae = AutoencoderKL.from_pretrained(f"{args.resume}/vae", torch_dtype=torch.float32).to(dev)
    text = CLIPTextModel.from_pretrained(f"{args.resume}/text_encoder", torch_dtype=torch.float32).to(dev)
    unet = UNet2DConditionModel.from_pretrained(f"{args.resume}/unet", torch_dtype=torch.float32).to(dev)
    state = json.load(open(f"{args.resume}/training_state.json"))
else:
    vae = AutoencoderKL(**VAE_CFG).to(dev)
    text = CLIPTextModel(CLIPTextConfig(**TEXT_CFG)).to(dev)
    unet = UNet2DConditionModel(**unet_cfg([int(c) for c in args.unet_channels.split(",")])).to(dev)
    assert (nparams(vae) + nparams(text) + nparams(unet)) * 2 / 2**20 <= args.budget_mb, "over the size budget"
    state = dict(vae_steps=0, unet_steps=0, unet_seconds=0.0)
log(f"params vae {nparams(vae)/1e6:.2f}M text {nparams(text)/1e6:.2f}M unet {nparams(unet)/1e6:.2f}M "
    f"channels {unet.config.block_out_channels}; fp16 total "
    f"{(nparams(vae)+nparams(text)+nparams(unet))*2/2**20:.1f} MiB")

# ---------------------------------------------------------------- 1. VAE
if not args.resume:
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-4, weight_decay=0.0)
    t, step = time.time(), 0
    while time.time() - t < args.vae_seconds:
        idx = torch.randint(0, len(X), (64,), device=dev)
        x = to_float(X[idx])
        with torch.autocast("cuda", dtype=torch.bfloat16):
            post = vae.encode(x).latent_dist
            rec = vae.decode(post.sample()).sample
        rec = rec.float()
        kl = post.kl().mean() / (3 * 128 * 128)
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 500 == 0:
            log(f"vae step {step} loss {loss.item():.4f} l1 {F.l1_loss(rec, x).item():.4f} kl {kl.item():.3f}")
    state["vae_steps"] = step
    log("vae done", step, "steps")
vae.eval().requires_grad_(False)

# latent statistics on all images (mean and std of the posterior), scaling factor = 1 / std(latent)
mus, sds = [], []
with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
    for i in range(0, len(X), 512):
        d = vae.encode(to_float(X[i:i + 512])).latent_dist
        mus.append(d.mean.float()); sds.append(d.std.float())
MU, SD = torch.cat(mus), torch.cat(sds)
if not args.resume:
    scale = float(1.0 / torch.cat([MU[train_idx]]).std())
    vae.register_to_config(scaling_factor=scale)
scale = vae.config.scaling_factor
with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
    ho = torch.nonzero(split > 0).squeeze(1)[:256]
    rec = vae.decode(MU[ho]).sample.float().clamp(-1, 1)
    vae_rmse = float(((rec - to_float(X[ho])) ** 2).mean().sqrt() / 2)
log(f"scaling_factor {scale:.4f}; VAE reconstruction RMSE on held-out (0..1 scale) {vae_rmse:.4f}")
state["vae_heldout_rmse"] = vae_rmse

# ---------------------------------------------------------------- 2. UNet + text encoder
sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                      clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")
acp = sched.alphas_cumprod.to(dev)
params = list(unet.parameters()) + list(text.parameters())
opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
warm = 200 if args.resume else 500
unet.train(); text.train()
t, step = time.time(), 0
ema_loss = None
while time.time() - t < args.unet_seconds:
    pick = train_idx[torch.multinomial(train_w, args.batch, replacement=True)]
    lat = (MU[pick] + SD[pick] * torch.randn_like(MU[pick])) * scale
    ids = ids_all[pick]
    drop = torch.rand(args.batch, device=dev) < 0.1
    ids = torch.where(drop[:, None], empty_ids.expand_as(ids), ids)
    ts = torch.randint(0, 1000, (args.batch,), device=dev)
    noise = torch.randn_like(lat)
    a = acp[ts].view(-1, 1, 1, 1)
    noisy = a.sqrt() * lat + (1 - a).sqrt() * noise
    for g in opt.param_groups:
        g["lr"] = args.lr * min(1.0, (step + 1) / warm)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        ctx = text(ids).last_hidden_state
        pred = unet(noisy, ts, encoder_hidden_states=ctx).sample
    loss = F.mse_loss(pred.float(), noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    step += 1
    ema_loss = loss.item() if ema_loss is None else 0.99 * ema_loss + 0.01 * loss.item() if step % 50 == 0 else ema_loss
    if step % 1000 == 0:
        log(f"unet step {step} ({state['unet_steps'] + step} total) loss~{ema_loss:.4f}")
state["unet_steps"] += step
state["unet_seconds"] += time.time() - t
log("unet done", step, "steps this run,", state["unet_steps"], "total")
unet.eval(); text.eval()

# ---------------------------------------------------------------- 3. export
mdir = f"{args.out}/emoji-sd"
os.makedirs(mdir, exist_ok=True)
vae.to(torch.float16).save_pretrained(f"{mdir}/vae", safe_serialization=True)
unet.to(torch.float16).save_pretrained(f"{mdir}/unet", safe_serialization=True)
text.to(torch.float16).save_pretrained(f"{mdir}/text_encoder", safe_serialization=True)
shutil.copytree(args.tokenizer, f"{mdir}/tokenizer", dirs_exist_ok=True)  # vocab.json + merges.txt as built
sched.save_pretrained(f"{mdir}/scheduler")
json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.36.0",
           "feature_extractor": [None, None], "image_encoder": [None, None], "requires_safety_checker": False,
           "safety_checker": [None, None], "scheduler": ["diffusers", "DDIMScheduler"],
           "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
           "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]},
          open(f"{mdir}/model_index.json", "w"), indent=2)
json.dump(state, open(f"{mdir}/training_state.json", "w"), indent=2)
log("exported", mdir)

# reload in fp16 as a user would, then evaluate
vae = AutoencoderKL.from_pretrained(f"{mdir}/vae", torch_dtype=torch.float16).to(dev)
unet = UNet2DConditionModel.from_pretrained(f"{mdir}/unet", torch_dtype=torch.float16).to(dev)
text = CLIPTextModel.from_pretrained(f"{mdir}/text_encoder", torch_dtype=torch.float16).to(dev)


@torch.no_grad()
def generate(prompts, steps=20, cfg=5.0, seed=0):
    """Euler (diffusers EulerDiscreteScheduler on the shipped betas), CFG; returns uint8 [B,3,128,128]."""
    es = EulerDiscreteScheduler.from_config(sched.config)
    es.set_timesteps(steps, device=dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    B = len(prompts)
    ids = tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids.to(dev)
    ctx = torch.cat([text(empty_ids.expand(B, -1)).last_hidden_state, text(ids).last_hidden_state])
    lat = torch.randn((B, 4, 32, 32), generator=g, device=dev, dtype=torch.float32) * es.init_noise_sigma
    for tt in es.timesteps:
        inp = es.scale_model_input(torch.cat([lat, lat]), tt).half()
        e_u, e_c = unet(inp, tt, encoder_hidden_states=ctx).sample.float().chunk(2)
        lat = es.step(e_u + cfg * (e_c - e_u), tt, lat).prev_sample
    img = vae.decode((lat / scale).half()).sample.float().clamp(-1, 1)
    return ((img + 1) * 127.5).round().to(torch.uint8)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_emoji  # noqa: E402

eval_emoji.run(X, items, meta, generate, args.out, log, state, seconds=args.eval_seconds)
log("all done")
