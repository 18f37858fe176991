#!/usr/bin/env python3
"""Build the compact emoji training file (training/README.md gives the exact commands).

Inputs (npm pack'ed and unpacked under WORK, see fetch_data.sh):
  g/ emoji-datasource-google@16.0.0   Noto, 64 px PNG, Apache-2.0   (+ emoji.json: categories, skin variants)
  t/ emoji-datasource-twitter@16.0.0  Twemoji, 64 px PNG, CC-BY-4.0
  f/ @lobehub/fluent-emoji-3d@1.1.0   Fluent 3D, 256 px WebP, MIT   (stored at 128 px)
  e/ emojibase-data@17.0.0            English labels, MIT
Output: one .npz with
  blob, offsets  image i is WebP bytes blob[offsets[i]:offsets[i+1]]: Noto and Twemoji 64x64 lossless,
                 Fluent 3D 128x128 (Lanczos from 256) quality 90; all RGB composited on white
  meta  JSON string: per image caption, style, category, subcategory, tone, concept, split, weight
Splits (stable hash, sha1): 3 % of concepts never trained on (split 2); 10 % of remaining (concept, style)
pairs held out (split 1); the rest is training (split 0). Weight balances (concept, style): every pair sums to 1
over its skin-tone variants, so the 59 % people / half skin-tone imbalance does not dominate sampling.
"""
import hashlib, io, json, os, sys
import numpy as np
from PIL import Image

WORK, OUT = sys.argv[1], sys.argv[2]
TONES = {None: "", "1F3FB": "light", "1F3FC": "medium-light", "1F3FD": "medium", "1F3FE": "medium-dark", "1F3FF": "dark"}
STYLES = ["noto", "twemoji", "fluent3d"]
STYLE_TEXT = {"noto": "noto flat", "twemoji": "twemoji flat", "fluent3d": "3d render"}


def frac(key: str) -> float:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0x100000000


def norm(code: str) -> str:
    return "-".join(p for p in code.upper().split("-") if p != "FE0F")


def on_white(im: Image.Image, size: int) -> np.ndarray:
    im = im.convert("RGBA")
    if im.size != (size, size):
        im = im.resize((size, size), Image.LANCZOS)
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(bg, im).convert("RGB"), dtype=np.uint8)


labels = {}
for e in json.load(open(f"{WORK}/e/package/en/data.json")):
    labels[norm(e["hexcode"])] = e["label"]
    for s in e.get("skins", []) or []:
        labels[norm(s["hexcode"])] = s["label"]

fluent_files = {norm(os.path.splitext(n)[0]): n for n in os.listdir(f"{WORK}/f/package/assets")}
ds = json.load(open(f"{WORK}/g/package/emoji.json"))

items = []  # (concept, tone, unified, image, category, subcategory)
for e in ds:
    if e["category"] == "Component":
        continue
    items.append((e["unified"], None, e["unified"], e["image"], e["category"], e["subcategory"], e))
    for key, v in (e.get("skin_variations") or {}).items():
        if "-" in key:  # two-tone couples: skip, single tones carry the skin-tone concept
            continue
        items.append((e["unified"], key, v["unified"], v["image"], e["category"], e["subcategory"], v))

cats = sorted({i[4] for i in items}); subs = sorted({i[5] for i in items})
flat, fluent, meta = [], [], []
for concept, tone, unified, image, cat, sub, src in items:
    label = labels.get(norm(unified))
    if label is None:
        label = (ds_name := next(x for x in ds if x["unified"] == concept)["name"].lower())
        if tone:
            label += f": {TONES[tone]} skin tone"
    label = label.replace(":", ",").replace("“", "").replace("”", "")
    held_concept = frac("concept:" + concept) < 0.03
    for style in STYLES:
        if style == "noto":
            path = f"{WORK}/g/package/img/google/64/{image}"
            if not src.get("has_img_google", True) or not os.path.exists(path):
                continue
            arr, store = on_white(Image.open(path), 64), flat
        elif style == "twemoji":
            path = f"{WORK}/t/package/img/twitter/64/{image}"
            if not src.get("has_img_twitter", True) or not os.path.exists(path):
                continue
            arr, store = on_white(Image.open(path), 64), flat
        else:
            name = fluent_files.get(norm(unified))
            if name is None:
                continue
            arr, store = on_white(Image.open(f"{WORK}/f/package/assets/{name}"), 128), fluent
        split = 2 if held_concept else (1 if frac(f"pair:{concept}:{style}") < 0.10 else 0)
        meta.append(dict(caption=f"{label}, {sub.replace('-', ' ')}, {STYLE_TEXT[style]}", label=label,
                         style=STYLES.index(style), category=cats.index(cat), subcategory=subs.index(sub),
                         tone=list(TONES).index(tone), concept=concept, split=split,
                         array="flat" if store is flat else "fluent", index=len(store)))
        store.append(arr)

# balance (concept, style): weights of a pair's skin variants sum to 1
count = {}
for m in meta:
    count[(m["concept"], m["style"])] = count.get((m["concept"], m["style"]), 0) + 1
for m in meta:
    m["weight"] = 1.0 / count[(m["concept"], m["style"])]

def webp(a: np.ndarray, lossless: bool) -> bytes:
    b = io.BytesIO()
    Image.fromarray(a).save(b, "WEBP", lossless=True) if lossless else Image.fromarray(a).save(b, "WEBP", quality=90)
    return b.getvalue()


# WebP keeps the file small enough to travel (raw arrays: 70 MiB compressed): flat art lossless, 3D renders q=90
blobs = [webp(flat[m["index"]], True) if m["array"] == "flat" else webp(fluent[m["index"]], False) for m in meta]
offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
np.savez_compressed(OUT, blob=np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets=offsets,
                    meta=np.array(json.dumps(dict(items=meta, categories=cats, subcategories=subs,
                                                  styles=STYLES, tones=[TONES[k] for k in TONES]))))
n = [sum(m["split"] == s for m in meta) for s in range(3)]
print(f"images {len(meta)} (flat {len(flat)}, fluent {len(fluent)}); train {n[0]}, held-out pairs {n[1]}, "
      f"held-out concepts {n[2]}; concepts {len(count and {m['concept'] for m in meta})}; "
      f"file {os.path.getsize(OUT) / 2**20:.1f} MiB")
