"""On the GPU machine: write a full-size, random-weight Stable Diffusion 1.5 or SDXL base 1.0 folder with diffusers,
laid out as the published repositories are (SD 1.5: PNDM scheduler, safety_checker/ and feature_extractor/,
requires_safety_checker; SDXL: Euler, two text encoders, force_zeros_for_empty_prompt), fp16 safetensors.
Random weights are scaled by 0.5 so fp16 activations stay finite through the full-depth networks.
usage: DIFFUSERS_SRC=... python3 write_published.py sd15|sdxl TOKENIZER_DIR OUT_DIR"""
import os, sys, shutil, json, time
sys.path.insert(0, os.environ["DIFFUSERS_SRC"])
import torch
from diffusers import (UNet2DConditionModel, AutoencoderKL, PNDMScheduler, EulerDiscreteScheduler,
                       StableDiffusionPipeline, StableDiffusionXLPipeline)
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from transformers import (CLIPTextModel, CLIPTextModelWithProjection, CLIPTextConfig, CLIPTokenizer, CLIPConfig,
                          CLIPImageProcessor)

family, tok_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.time()
torch.manual_seed(0)
# the published scheduler configs (stable-diffusion-v1-5 and stable-diffusion-xl-base-1.0), unknown keys included
SD15_SCHED = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                  set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1, trained_betas=None)
SDXL_SCHED = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                  steps_offset=1, timestep_spacing="leading", interpolation_type="linear", prediction_type="epsilon",
                  use_karras_sigmas=False, trained_betas=None)
# keys the published files carry that the constructors do not take (diffusers ignores them when loading)
EXTRA = {"sd15": {"clip_sample": False},
         "sdxl": {"sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True, "clip_sample": False}}


def vae(sample_size, **kw):
    return AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                         sample_size=sample_size, **kw)


def clip_l(**kw):
    return CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        hidden_act="quick_gelu", **kw))


with torch.device("cuda"):
    if family == "sd15":
        parts = dict(unet=UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8),
                     vae=vae(512), text_encoder=clip_l(projection_dim=768))
        # ViT-L/14 vision tower as in the published safety checker (its weights are random here; a server ignores it)
        cc = CLIPConfig(text_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                         num_attention_heads=12),
                        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                           num_attention_heads=16, patch_size=14, image_size=224),
                        projection_dim=768)
        safety = StableDiffusionSafetyChecker(cc)
    else:
        parts = dict(
            unet=UNet2DConditionModel(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                      up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                      transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
                                      cross_attention_dim=2048, use_linear_projection=True,
                                      addition_embed_type="text_time", addition_time_embed_dim=256,
                                      projection_class_embeddings_input_dim=2816),
            vae=vae(1024, scaling_factor=0.13025, force_upcast=True),
            text_encoder=clip_l(),
            text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(
                vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280)))
with torch.no_grad():
    for m in parts.values():
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(0.5)
if family == "sd15":
    pipe = StableDiffusionPipeline(**parts, tokenizer=CLIPTokenizer.from_pretrained(tok_dir),
                                   scheduler=PNDMScheduler(**SD15_SCHED), safety_checker=safety,
                                   feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
                                   requires_safety_checker=True)
else:
    pipe = StableDiffusionXLPipeline(**parts, tokenizer=CLIPTokenizer.from_pretrained(tok_dir),
                                     tokenizer_2=CLIPTokenizer.from_pretrained(tok_dir, pad_token="!"),
                                     scheduler=EulerDiscreteScheduler(**SDXL_SCHED))
pipe.to(torch.float16)
shutil.rmtree(out, ignore_errors=True)
pipe.save_pretrained(out, safe_serialization=True)
cfg_path = os.path.join(out, "scheduler", "scheduler_config.json")
cfg = json.load(open(cfg_path))
cfg.update(EXTRA[family])
json.dump(cfg, open(cfg_path, "w"), indent=2)
print(json.dumps({"wrote": out, "family": family, "s": round(time.time() - t0, 1),
                  "files": sorted(os.listdir(out))}), flush=True)
