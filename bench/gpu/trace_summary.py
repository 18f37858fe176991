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
