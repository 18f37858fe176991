"""Timing helpers shared by the GPU comparison scripts (script_vs_diffusers.py, flux_script_vs_diffusers.py): synced
step time, a CUDA-graph replay's time, per-kernel GPU time and per-aten-op counts from torch.profiler."""
import time
import torch


def safe(f, *a):
    """a measurement, or the error that stopped it (one failing probe must not lose the others' lines)"""
    try:
        v = f(*a)
        return round(v, 2) if isinstance(v, float) else v
    except Exception as e:  # noqa: BLE001 - reported in the line
        return "error: " + repr(e)[:300]


def timed(fn, n=20):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1e3


def graph_ms(fn, n=20):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return timed(g.replay, n)


def kernels(fn):
    from torch.profiler import profile, ProfilerActivity
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
    out = {}
    for e in prof.key_averages():
        t = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if t > 0 and e.key:
            # kernels whose names share the first 90 characters are summed (not overwritten)
            k = e.key[:90]
            prev = out.get(k, [0.0, 0])
            out[k] = [prev[0] + t / 5 / 1e3, prev[1] + e.count // 5]
    return {k: [round(v[0], 3), v[1]] for k, v in out.items()}


def ops(fn, by_shape):
    """aten ops per call: count and the GPU time of the kernels each op launches itself (self device time), by op
    name or by op name and input shapes; the ops whose counts or times differ name what makes a kernel gap"""
    from torch.profiler import profile, ProfilerActivity
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=by_shape) as prof:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
    out = {}
    for e in prof.key_averages(group_by_input_shape=by_shape):
        if not e.key.startswith("aten::"):
            continue
        t = getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
        k = e.key + (" " + str(e.input_shapes)[:160] if by_shape else "")
        prev = out.get(k, [0.0, 0])
        out[k] = [prev[0] + t / 3 / 1e3, prev[1] + e.count / 3]
    return out
