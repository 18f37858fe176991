#!/usr/bin/env bash
# Issue 13's measurements in one command on the one-GPU device machine (repository root, .gpu/ carried; each part
# bounded so one hang cannot eat the rest). JSON lines in $OUT/*.jsonl; server logs beside them.
#  1. UNet forward: op by op vs one TorchScript call (SD 1.5, batches 2 and 32)                     -> unet_script.jsonl
#  2. the server end to end, SD 1.5 512x512 25 steps: 1, 4, 16 users, diffusers side by side    -> sd15.jsonl
#     (the server prints every shared forward: -Djdiffuse.trace.forwards, summarised by trace_summary.py)
#  3. the server's SD 1.5 image against diffusers' with the same weights and seed (fp16 vs fp32) -> parity.jsonl
#  4. the server end to end, SDXL 1024x1024 20 steps: 1 and 4 users, diffusers side by side     -> sdxl.jsonl
#  5. as 2 with --warmup-batches 1-16: the first 16-user burst after start with the shapes warmed -> sd15_warm.jsonl
#  6. one user at a time with a lone job's forwards on its own thread (-Djdiffuse.batcher.inline=true), against the
#     forward-thread hand-off of part 2's one-user lines: the single-image host overhead      -> sd15_inline.jsonl
#  7. FLUX.1-dev's transformer forward, 1024x1024, batch 1: the server's op-by-op and scripted paths and diffusers,
#     the server's FLUX script run from Python beside diffusers (kernels or host?), SD 3 medium's transformer at batch
#     2 both ways                                                                                      -> flux.jsonl
#     (the FLUX script archive comes from the development machine: bash bench/gpu/dump_unet_script.sh .gpu/scripts)
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
J() { bash .gpu/gpu-env.sh java -Dai.djl.offline=true "$@"; }
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader | sed 's/^/# /'
timeout 100 bash -c 'bash .gpu/gpu-env.sh java -Dai.djl.offline=true -Dbench.batches=2,32 -Dbench.models=sd15 -cp ".gpu/app/*" dev.jdiffuse.bench.DenoiserBench unet_script' \
    > "$OUT/unet_script.txt" 2>&1; grep '^{' "$OUT/unet_script.txt" > "$OUT/unet_script.jsonl"; cat "$OUT/unet_script.jsonl"
export JAVA_OPTS="-Djdiffuse.trace.forwards=true"
(OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES="16" timeout 200 bash bench/gpu/concurrency_bench.sh) 2>&1 | tee "$OUT/sd15.jsonl"
(OUT=$OUT FAMILIES=sd15 PROBES=0 timeout 120 bash bench/gpu/published_parity.sh) 2>&1 | tee "$OUT/parity.jsonl"
(OUT=$OUT FAMILY=sdxl SIZE=1024 STEPS=20 N=4 BATCHES="4" timeout 170 bash bench/gpu/concurrency_bench.sh) 2>&1 | tee "$OUT/sdxl.jsonl"
(OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES="16" WARMUP=1-16 RUN_TAG=-warm timeout 260 bash bench/gpu/concurrency_bench.sh) 2>&1 | tee "$OUT/sd15_warm.jsonl"
(OUT=$OUT FAMILY=sd15 STEPS=25 N=1 BATCHES="16" RUN_TAG=-inline JAVA_OPTS="-Djdiffuse.batcher.inline=true" SKIP_DIFFUSERS=1 timeout 150 bash bench/gpu/concurrency_bench.sh) 2>&1 | tee "$OUT/sd15_inline.jsonl"
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
timeout 150 bash .gpu/gpu-env.sh java -Dai.djl.offline=true -cp ".gpu/app/*" dev.jdiffuse.bench.DenoiserBench flux sd3 2>&1 | grep '^{' | tee "$OUT/flux.jsonl"
DIFFUSERS_SRC=/tmp/d timeout 100 python3 bench/gpu/flux_forward.py 2>&1 | grep '^{' | tee -a "$OUT/flux.jsonl"
DIFFUSERS_SRC=/tmp/d timeout 100 python3 bench/gpu/sd3_forward.py 2>&1 | grep '^{' | tee -a "$OUT/flux.jsonl"
[ -f .gpu/scripts/flux_script.pt ] && DIFFUSERS_SRC=/tmp/d timeout 120 python3 bench/gpu/flux_script_vs_diffusers.py .gpu/scripts 2>&1 | grep '^{' | tee -a "$OUT/flux.jsonl"
