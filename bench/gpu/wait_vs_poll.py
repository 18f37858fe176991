"""What a client pays around one job, waiting (Prefer: wait, ?wait long polls) against polling every 5 ms: images
alternate between the two on one running server; per image, the whole call (POST to PNG fetched) minus the
server's own queued_ms + run_ms. Prints one JSON line.
usage: python3 wait_vs_poll.py BASE_URL N SIZE STEPS LABEL"""
import json, os, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jd_http import generate  # noqa: E402

base, n, size, steps, label = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
over = {"poll": [], "wait": []}
for i in range(n + 4):
    poll = i % 2 == 0
    t = time.perf_counter()
    j, png = generate(base, {"prompt": f"prompt {i}", "steps": steps, "width": size, "height": size, "seed": i},
                      poll=poll)
    el = (time.perf_counter() - t) * 1e3
    if i >= 4:  # the first two of each kind warm the paths
        over["poll" if poll else "wait"].append(round(el - j["timings"]["queued_ms"] - j["timings"]["run_ms"], 2))
print(json.dumps({"case": "client_minus_server_ms", "config": label, "size": size, "steps": steps,
                  **{k: {"median": round(statistics.median(v), 2), "mean": round(statistics.mean(v), 2), "n": len(v),
                         "all": v} for k, v in over.items()}}))
