"""Summarises the server's forward trace (-Djdiffuse.trace.forwards=true, optionally -Djdiffuse.trace.sync=true)
from its log: per number of rows, how many forwards and their median time (host time to launch, or the device's
when synced), and the forwards that took over 300 ms (a shape met for the first time: cuDNN builds its plans, and
with -Djdiffuse.scripted.optimize=true TorchScript re-profiles). usage: python3 trace_summary.py SERVER_LOG LABEL"""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1], errors="replace") if l.startswith('{"trace":"forward"')]
by_rows = {}
for r in rows:
    by_rows.setdefault(r["rows"], []).append(r["ms"])
slow = [[r["rows"], round(r["ms"])] for r in rows if r["ms"] > 300]
print(json.dumps({"trace": sys.argv[2], "forwards": len(rows), "synced": bool(rows and rows[0]["synced"]),
                  "by_rows": {k: [len(v), round(sorted(v)[len(v) // 2], 1)] for k, v in sorted(by_rows.items())},
                  "slow_first_shapes": slow}))

# The forwards in runs (a pause of over 150 ms between one forward's end and the next one's start ends a run): per run
# with more than 8 forwards (a burst of users, a warm-up), the number of forwards, the rows of each in order
# (run-length encoded: [rows, times]), from the first forward's start to the last one's end, and the time between
# forwards in it (host side: the batcher waiting for calls, other work on the forward thread such as encodes and
# decodes). 16 users starting together should show 25 forwards of 32 rows.
runs, cur = [], []
for r in rows:
    if cur and r["at_ms"] - (cur[-1]["at_ms"] + cur[-1]["ms"]) > 150:
        runs.append(cur)
        cur = []
    cur.append(r)
if cur:
    runs.append(cur)
for run in runs:
    if len(run) <= 8:
        continue
    seq = []
    for r in run:
        if seq and seq[-1][0] == r["rows"]:
            seq[-1][1] += 1
        else:
            seq.append([r["rows"], 1])
    span = run[-1]["at_ms"] + run[-1]["ms"] - run[0]["at_ms"]
    busy = sum(r["ms"] for r in run)
    print(json.dumps({"trace_run": sys.argv[2], "forwards": len(run), "rows": seq, "span_ms": round(span, 1),
                      "between_forwards_ms": round(span - busy, 1)}))
