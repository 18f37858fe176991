"""Drives a running jdiffuse server as users would (submit, poll, fetch the PNG): one image at a time, then 4 and N
concurrent users, each with its own prompt and seed. Euler, CFG 7.5.
usage: python3 e2e_client.py PORT STEPS N LABEL   (SIZE and MODEL in the environment)"""
import json, os, sys, threading, time, urllib.request

port, steps, n, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
B = f"http://127.0.0.1:{port}"
W = int(os.environ.get("SIZE", "512"))
MODEL = os.environ.get("MODEL")


def call(method, path, body=None):
    req = urllib.request.Request(B + path, data=json.dumps(body).encode() if body else None, method=method,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def gen(i):
    body = {"prompt": f"prompt {i}", "steps": steps, "sampler": "euler", "guidance_scale": 7.5, "width": W,
            "height": W, "seed": i, **({"model": MODEL} if MODEL else {})}
    gid = json.loads(call("POST", "/v1/generations", body))["id"]
    while True:
        j = json.loads(call("GET", f"/v1/generations/{gid}"))
        if j.get("status") in ("succeeded", "failed", "cancelled"):
            assert j["status"] == "succeeded", j
            call("GET", f"/v1/generations/{gid}/images/0")
            return j
        time.sleep(0.005)


gen(0); gen(1)
t0 = time.perf_counter()
for i in range(4):
    last = gen(100 + i)
one = (time.perf_counter() - t0) / 4
print(json.dumps({"impl": "jdiffuse", "config": label, "case": "e2e_one_at_a_time", "steps": steps, "size": W,
                  "s_per_image": round(one, 4), "images_per_s": round(1 / one, 3), "timings": last.get("timings")}),
      flush=True)
for users in (4, n):
    errs = []
    ran_on, counting = {}, threading.Lock()  # jobs per device (the job record's "device"; serve --devices spreads them)

    def user(i):
        try:
            d = gen(1000 + i).get("device", "?")
            with counting:
                ran_on[d] = ran_on.get(d, 0) + 1
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            errs.append(repr(e))

    ts = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    t0 = time.perf_counter()
    [t.start() for t in ts]; [t.join() for t in ts]
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "jdiffuse", "config": label, "case": f"e2e_{users}_concurrent_users", "steps": steps,
                      "size": W, "s_total": round(dt, 3), "images_per_s": round(users / dt, 3),
                      "jobs_per_device": ran_on, "errors": errs[:3]}),
          flush=True)
