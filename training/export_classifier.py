"""Trains eval_emoji.py's classifier from scratch on the real training images (as the evaluation does) and exports it
as TorchScript for the Java agreement test (issue 10, item 3), with the label names and a few held-out captions.

  python3 training/export_classifier.py --data .train/emoji_data.npz --out OUT [--seconds 75]

Writes OUT/emoji-classifier.pt: a traced module taking float [B,3,128,128] RGB in [0,1] (what the pipeline
decodes) and returning the logits of the four heads concatenated, [B, styles+categories+subcategories+tones];
OUT/emoji-classifier.json: head names and sizes, label names, the ceiling on real held-out images, and held-out
captions of never-seen concepts with their labels. Traced in float32 on the CPU so DJL's CPU libtorch can run it.
"""
import argparse, io, json, time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import eval_emoji

p = argparse.ArgumentParser()
p.add_argument("--data", default=".train/emoji_data.npz")
p.add_argument("--out", required=True)
p.add_argument("--seconds", type=float, default=75)
p.add_argument("--captions", type=int, default=48)
args = p.parse_args()
dev = "cuda" if torch.cuda.is_available() else "cpu"
T0 = time.time()

z = np.load(args.data)
meta = json.loads(str(z["meta"]))
items, blob, off = meta["items"], z["blob"], z["offsets"]


def decode(i):  # as train.py: 64 px sets bicubic to 128
    a = np.asarray(Image.open(io.BytesIO(blob[off[i]:off[i + 1]].tobytes())).convert("RGB"))
    if a.shape[0] != 128:
        a = np.asarray(Image.fromarray(a).resize((128, 128), Image.BICUBIC))
    return a


with ThreadPoolExecutor(16) as ex:
    X = torch.from_numpy(np.stack(list(ex.map(decode, range(len(items)))))).to(dev).permute(0, 3, 1, 2).contiguous()
H = eval_emoji.HEADS
labels = torch.tensor([[m[h] for h in H] for m in items], device=dev)
sizes = [len(meta["styles"]), len(meta["categories"]), len(meta["subcategories"]), len(meta["tones"])]
split = torch.tensor([m["split"] for m in items], device=dev)
tr = torch.nonzero(split == 0).squeeze(1)
ho = torch.nonzero(split > 0).squeeze(1)

torch.manual_seed(1)
clf = eval_emoji.Classifier(sizes).to(dev).to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(clf.parameters(), lr=2e-3, weight_decay=0.05)
t, step = time.time(), 0
while time.time() - t < args.seconds:  # the evaluation's recipe: random shifts and a little noise
    idx = tr[torch.randint(0, len(tr), (256,), device=dev)]
    x = eval_emoji.prep(X[idx])
    x = torch.roll(x, shifts=torch.randint(-4, 5, (2,)).tolist(), dims=(2, 3)) + 0.03 * torch.randn_like(x)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
        _, outs = clf(x)
    loss = sum(F.cross_entropy(o.float(), labels[idx, i]) for i, o in enumerate(outs))
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); step += 1
clf.eval()


class Exported(torch.nn.Module):
    """[B,3,128,128] in [0,1] -> concatenated logits; eval_emoji.prep's resize and scaling inside."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        x = F.interpolate(x * 2 - 1, size=64, mode="area")
        _, outs = self.c(x)
        return torch.cat(outs, 1)


exp = Exported(clf.float().cpu().to(memory_format=torch.contiguous_format)).eval()
with torch.no_grad():
    real = X[ho].float().cpu() / 255
    logits = torch.cat([exp(real[i:i + 512]) for i in range(0, len(real), 512)])
bounds = np.cumsum([0] + sizes)
pred = torch.stack([logits[:, bounds[i]:bounds[i + 1]].argmax(1) for i in range(4)], 1)
lab = labels[ho].cpu()
ceiling = {h: float((pred[:, i] == lab[:, i]).float().mean()) for i, h in enumerate(H)}
traced = torch.jit.trace(exp, torch.rand(2, 3, 128, 128))
traced.save(f"{args.out}/emoji-classifier.pt")

# held-out captions of never-seen concepts (split 2), one per concept, base skin tone only, spread over styles
rng = np.random.default_rng(0)
unseen = [i for i in ho.tolist() if items[i]["split"] == 2 and items[i]["tone"] == 0]
rng.shuffle(unseen)
seen_caps, chosen = set(), []
for i in unseen:
    if items[i]["caption"] not in seen_caps:
        seen_caps.add(items[i]["caption"]); chosen.append(i)
    if len(chosen) == args.captions:
        break
u = torch.tensor(chosen)
ceiling_chosen = {h: float((pred[(ho.cpu()[:, None] == u[None]).any(1)][:, i] ==
                            lab[(ho.cpu()[:, None] == u[None]).any(1)][:, i]).float().mean()) for i, h in enumerate(H)}
json.dump({"input": "float [B,3,128,128] RGB in [0,1]", "output": "concatenated logits of the heads, in order",
           "heads": list(H), "sizes": sizes, "styles": meta["styles"], "categories": meta["categories"],
           "classifier_steps": step, "ceiling_real_heldout": ceiling, "ceiling_on_these_captions_real": ceiling_chosen,
           "heldout_unseen": [{"caption": items[i]["caption"], **{h: items[i][h] for h in H}} for i in chosen]},
          open(f"{args.out}/emoji-classifier.json", "w"), indent=1)
print(json.dumps({"steps": step, "ceiling": ceiling, "ceiling_chosen": ceiling_chosen, "captions": len(chosen),
                  "s": round(time.time() - T0, 1)}), flush=True)
