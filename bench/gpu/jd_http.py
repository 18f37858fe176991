"""The server's HTTP API as the bench scripts use it: a JSON call, and one generation from POST to its first PNG."""
import json, time, urllib.request


def call(base, method, path, body=None, headers=None):
    h = {"Content-Type": "application/json"} if body else {}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None, method=method,
                                 headers=h)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def generate(base, body, poll=False):
    """POSTs body to /v1/generations and returns (the job's record, its first PNG) once the job has ended: held by
    the server (Prefer: wait, then ?wait= long polls) or, with poll, by GETs every 5 ms (how sessions 13-15 waited)."""
    if poll:
        gid = json.loads(call(base, "POST", "/v1/generations", body))["id"]
        j = {}
    else:
        j = json.loads(call(base, "POST", "/v1/generations", body, {"Prefer": "wait=55"}))
        gid = j["id"]
    while j.get("status") not in ("succeeded", "failed", "cancelled"):
        if poll:
            time.sleep(0.005)
        j = json.loads(call(base, "GET", f"/v1/generations/{gid}" + ("" if poll else "?wait=55")))
    assert j["status"] == "succeeded", j
    return j, call(base, "GET", f"/v1/generations/{gid}/images/0")
