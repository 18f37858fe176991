#!/usr/bin/env bash
# Session 12 on the one-GPU device machine (repository root, .gpu/ carried as in bench/gpu/README.md), in parts so
# that each device call stays under its limit: PART=a, then PART=b.
#  a. 1, 4 and 16 users (warmed shapes, forward trace) with a burst's start alignment ("after") and with the code
#     before it ("before": the earlier samplers and models jars in .gpu/old/ first on the classpath); diffusers end to
#     end (one image, batches of 4 and 16); then "after" without the warm-up ("after-cold")
#  b. the same server with a lone job's forwards on its own thread (-Djdiffuse.batcher.inline=true); the SD 1.5 UNet's
#     scripted forward against diffusers' at batches 2 and 32, GPU time (CUDA-graph replay) and synced
#     (script_vs_diffusers.py; needs .gpu/scripts from dump_unet_script.sh); FLUX.1-dev's transformer: the server's
#     FLUX script from Python beside diffusers' (flux_script_vs_diffusers.py)
# JSON lines in $OUT/s12-$PART.jsonl, server logs beside them.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
PART=${PART:-a}
L="$OUT/s12-$PART.jsonl"
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/# /' | tee -a "$L"
S() { (OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 "$@") 2>&1 | grep -E '^[{#]' | tee -a "$L"; }
if [ "$PART" = a ]; then
  S env LABEL=after RUN_TAG=-after JAVA_OPTS="-Djdiffuse.trace.forwards=true" timeout 160 bash bench/gpu/concurrency_bench.sh
  timeout 110 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
  S env LABEL=before RUN_TAG=-before CP=".gpu/old/*:.gpu/app/*" JAVA_OPTS="-Djdiffuse.trace.forwards=true" timeout 160 bash bench/gpu/concurrency_bench.sh
  S env LABEL=after-cold RUN_TAG=-cold WARMUP= JAVA_OPTS="-Djdiffuse.trace.forwards=true" timeout 160 bash bench/gpu/concurrency_bench.sh
elif [ "$PART" = c ]; then
  # part a's "before" again with the whole earlier build first on the classpath (the earlier models jar alone failed
  # beside this server jar: NoSuchMethodError), then part b's inline server
  S env LABEL=before RUN_TAG=-before CP=".gpu/old/*:.gpu/app/*" JAVA_OPTS="-Djdiffuse.trace.forwards=true" timeout 100 bash bench/gpu/concurrency_bench.sh
  S env LABEL=after-inline RUN_TAG=-inline JAVA_OPTS="-Djdiffuse.trace.forwards=true -Djdiffuse.batcher.inline=true" timeout 90 bash bench/gpu/concurrency_bench.sh
else
  S env LABEL=after-inline RUN_TAG=-inline JAVA_OPTS="-Djdiffuse.trace.forwards=true -Djdiffuse.batcher.inline=true" timeout 160 bash bench/gpu/concurrency_bench.sh
  timeout 120 python3 bench/gpu/script_vs_diffusers.py sd15 .gpu/scripts 2,32 2>&1 | grep '^{' | tee -a "$L"
  [ -f .gpu/scripts/flux_script.pt ] && timeout 150 python3 bench/gpu/flux_script_vs_diffusers.py .gpu/scripts 2>&1 | grep '^{' | tee -a "$L"
fi
