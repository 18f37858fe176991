"""Where the GPU idles during one image: reads `nsys stats -r cuda_gpu_trace -f csv` (every kernel and copy on the
GPU, start and duration), splits the timeline into images at idle gaps longer than SPLIT_MS (default 40: the client's
time between images), and prints per image one JSON line: its span, the GPU's busy time (union of the intervals), its
idle time inside the span, the idle gaps by size, and the largest gaps with the work before and after each.
usage: python3 nsys_gaps.py TRACE.csv LABEL"""
import csv, json, os, sys

path, label = sys.argv[1], sys.argv[2]
split_ns = float(os.environ.get("SPLIT_MS", "40")) * 1e6
rows = []
with open(path, newline="") as f:
    lines = [l for l in f if l.strip() and not l.startswith("NOTICE") and not l.startswith("Processing")]
for r in csv.DictReader(lines):
    try:
        start, dur = float(r["Start (ns)"]), float(r["Duration (ns)"])
    except (KeyError, ValueError):
        continue
    rows.append((start, start + dur, r.get("Name", "")[:60]))
rows.sort()
images, cur, end = [], [], None
for s, e, name in rows:
    if cur and s - end > split_ns:
        images.append(cur)
        cur = []
    end = e if not cur else max(end, e)
    cur.append((s, e, name))
if cur:
    images.append(cur)
for n, img in enumerate(images):
    busy, gaps, last_end, last_name = 0.0, [], img[0][0], ""
    for s, e, name in img:
        if s > last_end:
            gaps.append((s - last_end, last_name, name))
        busy += max(0.0, e - max(s, last_end))
        if e > last_end:
            last_end, last_name = e, name
    span = last_end - img[0][0]
    buckets = {"<0.01ms": 0.0, "0.01-0.1ms": 0.0, "0.1-1ms": 0.0, ">1ms": 0.0}
    for g, _, _ in gaps:
        k = "<0.01ms" if g < 1e4 else "0.01-0.1ms" if g < 1e5 else "0.1-1ms" if g < 1e6 else ">1ms"
        buckets[k] += g / 1e6
    top = sorted(gaps, reverse=True)[:8]
    print(json.dumps({"nsys_image": label, "n": n, "ops": len(img), "span_ms": round(span / 1e6, 2),
                      "busy_ms": round(busy / 1e6, 2), "idle_ms": round((span - busy) / 1e6, 2),
                      "idle_by_gap_ms": {k: round(v, 2) for k, v in buckets.items()},
                      "memcpy_ops": sum(1 for r in img if "memcpy" in r[2].lower() or "memset" in r[2].lower()),
                      "largest_gaps": [[round(g / 1e6, 3), a, b] for g, a, b in top]}), flush=True)
