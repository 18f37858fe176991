"""Quality measured without any pretrained network (issue 10, item 3).

  classifier  a small CNN trained from scratch on the real training images (style, category, subcategory, tone)
  ceiling     its accuracy on the real held-out images
  agreement   generate 4 images per held-out caption; how often its predictions match the caption's labels
  KID         on its penultimate features (cubic polynomial kernel, unbiased MMD^2); held-out real images split in
              halves A/B: generated-from-B's-captions vs A, next to real B vs A (floor), blurred B and noised B vs A
  copies      nearest training image (RMSE at 64x64, 0..1) of each generated image vs the same for real held-out
"""
import json, time

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw

HEADS = ("style", "category", "subcategory", "tone")


class Classifier(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        def blk(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.SiLU(),
                                 nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.SiLU(), nn.MaxPool2d(2))
        self.body = nn.Sequential(blk(3, 48), blk(48, 96), blk(96, 192), blk(192, 256),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())  # 64 -> 4
        self.heads = nn.ModuleList([nn.Linear(256, s) for s in sizes])

    def forward(self, x):  # x: float [B,3,64,64] in [-1,1]
        f = self.body(x)
        return f, [h(f) for h in self.heads]


def prep(u8):  # uint8 [B,3,128,128] -> float [B,3,64,64]
    return F.interpolate(u8.float() / 127.5 - 1, size=64, mode="area")


def kid(a, b):
    d = a.shape[1]
    kxx, kyy, kxy = [(p @ q.T / d + 1) ** 3 for p, q in ((a, a), (b, b), (a, b))]
    m, n = len(a), len(b)
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
                 - 2 * kxy.mean())


def gauss_blur(x, sigma=2.0):
    r = int(3 * sigma)
    k = torch.exp(-torch.arange(-r, r + 1, device=x.device).float() ** 2 / (2 * sigma ** 2)); k /= k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)


def run(X, items, meta, generate, out, log, state, seconds=75):
    dev = X.device
    labels = torch.tensor([[m[h] for h in HEADS] for m in items], device=dev)
    sizes = [len(meta["styles"]), len(meta["categories"]), len(meta["subcategories"]), len(meta["tones"])]
    split = torch.tensor([m["split"] for m in items], device=dev)
    tr = torch.nonzero(split == 0).squeeze(1)
    ho = torch.nonzero(split > 0).squeeze(1)

    # --- classifier from scratch on real training images (random shifts so it does not key on exact pixels)
    torch.manual_seed(1)
    clf = Classifier(sizes).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-3, weight_decay=0.05)
    t, step = time.time(), 0
    while time.time() - t < seconds:
        idx = tr[torch.randint(0, len(tr), (256,), device=dev)]
        x = prep(X[idx])
        sh = torch.randint(-4, 5, (2,)).tolist()
        x = torch.roll(x, shifts=sh, dims=(2, 3))
        x = x + 0.03 * torch.randn_like(x)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, outs = clf(x)
        loss = sum(F.cross_entropy(o.float(), labels[idx, i]) for i, o in enumerate(outs))
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); step += 1
    clf.eval()
    log(f"classifier {step} steps, loss {loss.item():.3f}")

    @torch.no_grad()
    def classify(u8):
        fs, ps = [], []
        for i in range(0, len(u8), 1024):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                f, outs = clf(prep(u8[i:i + 1024]))
            fs.append(f.float()); ps.append(torch.stack([o.argmax(1) for o in outs], 1))
        return torch.cat(fs), torch.cat(ps)

    def acc(pred, lab):
        r = {h: float((pred[:, i] == lab[:, i]).float().mean()) for i, h in enumerate(HEADS)}
        toned = lab[:, 3] > 0
        r["tone_on_toned"] = float((pred[toned, 3] == lab[toned, 3]).float().mean()) if toned.any() else None
        return r

    # --- ceiling: real held-out images
    f_real, p_real = classify(X[ho])
    ceiling = acc(p_real, labels[ho])
    f_train_sub, p_train_sub = classify(X[tr[:2000]])
    train_acc = acc(p_train_sub, labels[tr[:2000]])

    # --- generated: 4 images per held-out caption
    caps = [items[i]["caption"] for i in ho.tolist()]
    gen = []
    for rep in range(4):
        for i in range(0, len(caps), 1024):
            gen.append(generate(caps[i:i + 1024], seed=1000 * rep + i))
    gen = torch.cat(gen)  # [4*H,...] ordered rep-major
    f_gen, p_gen = classify(gen)
    lab4 = labels[ho].repeat(4, 1)
    agreement = acc(p_gen, lab4)
    unseen = (split[ho] == 2).repeat(4)
    agreement_unseen_concepts = acc(p_gen[unseen], lab4[unseen])
    log("ceiling", ceiling, "agreement", agreement)

    # --- KID on classifier features: halves A (even) / B (odd) of the held-out real images
    n = len(ho)
    A, B = torch.arange(0, n, 2, device=dev), torch.arange(1, n, 2, device=dev)
    fA, fB = f_real[A], f_real[B]
    f_blur, _ = classify(((gauss_blur(X[ho][B].float() / 255) * 255).round().clamp(0, 255)).to(torch.uint8))
    f_noise, _ = classify(((X[ho][B].float() / 255 + 0.1 * torch.randn(len(B), 3, 128, 128, device=dev))
                           .clamp(0, 1) * 255).round().to(torch.uint8))
    kids = {"generated_vs_A": kid(f_gen[B], fA), "real_B_vs_A (floor)": kid(fB, fA),
            "blurred_B_sigma2_vs_A": kid(f_blur, fA), "noised_B_0.1_vs_A": kid(f_noise, fA)}
    log("KID", kids)

    # --- nearest training image (RMSE at 64x64, 0..1)
    def small(u8):
        return (F.interpolate(u8.float() / 255, size=64, mode="area")).flatten(1)
    T = small(X[tr])

    def nn_rmse(u8):
        q = small(u8)
        d = torch.cdist(q, T) / (q.shape[1] ** 0.5)
        return d.min(1).values
    g1 = gen[:len(ho)]  # first sample per caption
    d_gen, d_real = nn_rmse(g1), nn_rmse(X[ho])
    q = torch.tensor([0.01, 0.1, 0.5], device=dev)
    copies = {"generated_nn_rmse_quantiles_1_10_50pct": d_gen.quantile(q).tolist(),
              "real_heldout_nn_rmse_quantiles_1_10_50pct": d_real.quantile(q).tolist(),
              "generated_below_real_heldout_1pct": float((d_gen < d_real.quantile(0.01)).float().mean()),
              "generated_below_0.02": float((d_gen < 0.02).float().mean())}
    log("copies", copies)

    res = dict(training_state=state, classifier_steps=step, heldout_captions=len(caps),
               heldout_unseen_concept_captions=int((split[ho] == 2).sum()), classifier_train_accuracy=train_acc,
               ceiling_real_heldout=ceiling, agreement_generated=agreement,
               agreement_generated_unseen_concepts=agreement_unseen_concepts,
               ratio_to_ceiling={h: agreement[h] / ceiling[h] for h in HEADS}, kid=kids, nearest_train=copies,
               sampler="Euler 20 steps, CFG 5.0")
    json.dump(res, open(f"{out}/eval.json", "w"), indent=2)

    # --- sample grids: held-out captions (first 4 rows) and hand-written prompts
    prompts = ["red apple, food fruit, 3d render", "grinning face, face smiling, twemoji flat",
               "cat face, animal mammal, noto flat", "red heart, heart, 3d render", "rocket, transport air, twemoji flat",
               "pizza, food prepared, noto flat", "sun, sky & weather, 3d render", "dog face, animal mammal, twemoji flat",
               "woman astronaut, dark skin tone, person role, noto flat", "soccer ball, sport, 3d render",
               "automobile, transport ground, twemoji flat", "birthday cake, food sweet, 3d render"]
    rows = [(p, generate([p] * 4, seed=7)) for p in prompts]
    pick = ho[torch.randperm(len(ho), generator=torch.Generator().manual_seed(3))[:8].to(dev)]
    rows += [("held out: " + items[i]["caption"], torch.cat([X[i:i + 1], generate([items[i]["caption"]] * 3, seed=7)]))
             for i in pick.tolist()]
    W = 128
    grid = Image.new("RGB", (4 * W + 330, len(rows) * W), "white")
    dr = ImageDraw.Draw(grid)
    for r, (p, ims) in enumerate(rows):
        txt = p if len(p) < 48 else p[:46] + "…"
        words, line, lines = txt.split(" "), "", []
        for w in words:
            if len(line) + len(w) > 44:
                lines.append(line); line = ""
            line += w + " "
        lines.append(line)
        for k, l in enumerate(lines):
            dr.text((6, r * W + 40 + 14 * k), l, fill="black")
        for c in range(4):
            grid.paste(Image.fromarray(ims[c].permute(1, 2, 0).cpu().numpy()), (330 + c * W, r * W))
    grid.save(f"{out}/samples.png")
    log("wrote eval.json and samples.png")
