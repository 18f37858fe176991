"""The server's HTTP API as the bench scripts use it: a JSON call, and one generation from POST to its first PNG."""
import json, time, urllib.request


def call(base, method, path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None, method=method,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def generate(base, body):
    """POSTs body to /v1/generations, polls every 5 ms until the job ends; (the job's record, its first PNG)."""
    gid = json.loads(call(base, "POST", "/v1/generations", body))["id"]
    while True:
        j = json.loads(call(base, "GET", f"/v1/generations/{gid}"))
        if j.get("status") in ("succeeded", "failed", "cancelled"):
            assert j["status"] == "succeeded", j
            return j, call(base, "GET", f"/v1/generations/{gid}/images/0")
        time.sleep(0.005)
