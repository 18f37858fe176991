"""Drives a running jdiffuse server as users would (submit, wait for the job, fetch the PNG): one image at a time,
then 4 and N concurrent users, each with its own prompt and seed. Euler, CFG 7.5. A user waits with Prefer: wait and
?wait long polls; POLL=1 polls every 5 ms instead (how sessions 12-15 measured).
usage: python3 e2e_client.py PORT STEPS N LABEL   (SIZE, MODEL and POLL in the environment)"""
import json, os, sys, threading, time, urllib.request

port, steps, n, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
B = f"http://127.0.0.1:{port}"
W = int(os.environ.get("SIZE", "512"))
MODEL = os.environ.get("MODEL")
POLL = os.environ.get("POLL") == "1"
TERMINAL = ("succeeded", "failed", "cancelled")


def call(method, path, body=None, headers=None):
    h = {"Content-Type": "application/json"} if body else {}
    h.update(headers or {})
    req = urllib.request.Request(B + path, data=json.dumps(body).encode() if body else None, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def gen(i, spans=None):
    body = {"prompt": f"prompt {i}", "steps": steps, "sampler": "euler", "guidance_scale": 7.5, "width": W,
            "height": W, "seed": i, **({"model": MODEL} if MODEL else {})}
    t0 = time.perf_counter()
    j = json.loads(call("POST", "/v1/generations", body, None if POLL else {"Prefer": "wait=55"}))
    gid = j["id"]
    t1 = time.perf_counter()
    while j.get("status") not in TERMINAL:
        if POLL:
            time.sleep(0.005)
        j = json.loads(call("GET", f"/v1/generations/{gid}" + ("" if POLL else "?wait=55")))
    assert j["status"] == "succeeded", j
    t2 = time.perf_counter()
    call("GET", f"/v1/generations/{gid}/images/0")
    t3 = time.perf_counter()
    if spans is not None:
        # client-side split, the server's own queued+run taken out: POLL as sessions 12-15 split it (the POST,
        # submit-to-succeeded-seen, the fetch); waiting, the held POST and its long polls, then the fetch; both, the
        # whole call
        tm = j.get("timings") or {}
        server = tm.get("queued_ms", 0) + tm.get("run_ms", 0)
        split = ({"submit_ms": round((t1 - t0) * 1e3, 1), "seen_minus_server_ms": round((t2 - t1) * 1e3 - server, 1)}
                 if POLL else {"held_minus_server_ms": round((t2 - t0) * 1e3 - server, 1)})
        spans.append({"waited": not POLL, **split, "fetch_ms": round((t3 - t2) * 1e3, 1),
                      "client_minus_server_ms": round((t3 - t0) * 1e3 - server, 1), **tm})
    return j

for i in range(3):
    gen(i)
spans = []
t0 = time.perf_counter()
for i in range(6):
    gen(100 + i, spans)
one = (time.perf_counter() - t0) / 6
print(json.dumps({"impl": "jdiffuse", "config": label, "case": "e2e_one_at_a_time", "steps": steps, "size": W,
                  "s_per_image": round(one, 4), "images_per_s": round(1 / one, 3), "per_image": spans}),
      flush=True)
# each concurrency twice: the first burst also pays the first use of fresh worker threads (PyTorch per-thread state),
# the second is the steady state
def spread(rows, key):
    """min / median / max of one timing over a burst's jobs"""
    v = sorted(r.get(key, 0) for r in rows)
    return [v[0], v[len(v) // 2], v[-1]] if v else []


# each burst with prompts of its own, so that no prompt encoding is reused from an earlier burst
for users in (4, n):
  for b, burst in enumerate(("first", "again")):
    errs, timings = [], []
    ran_on, counting = {}, threading.Lock()  # jobs per device (the job record's "device"; serve --devices spreads them)

    def user(i):
        try:
            j = gen(1000 * (2 * users + b + 1) + i)
            with counting:
                d = j.get("device", "?")
                ran_on[d] = ran_on.get(d, 0) + 1
                timings.append(j.get("timings") or {})
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            errs.append(repr(e))

    ts = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    t0 = time.perf_counter()
    [t.start() for t in ts]; [t.join() for t in ts]
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "jdiffuse", "config": label, "case": f"e2e_{users}_concurrent_users", "burst": burst,
                      "steps": steps, "size": W, "s_total": round(dt, 3), "images_per_s": round(users / dt, 3),
                      "jobs_per_device": ran_on, "errors": errs[:3],
                      # the jobs' own timings: [min, median, max] ms over the burst
                      "job_ms": {k: spread(timings, k) for k in ("queued_ms", "encode_ms", "denoise_ms",
                                                                 "decode_ms", "finish_ms", "run_ms")}}), flush=True)
