#!/usr/bin/env bash
# Session 13 on the one-GPU device machine (repository root, .gpu/ carried as in bench/gpu/README.md), one call:
#  1. "after": this build, 16 SD 1.5 users warmed (--warmup-batches 1-16), forward trace
#  2. diffusers end to end on the same folder (one image, batches of 4 and 16)
#  3. "after-opt": this build with -Djdiffuse.scripted.optimize=true (libtorch's profiling executor and fuser; the
#     warm-up meets every batch size first)
#  4. the SD 1.5 UNet's scripted forward against diffusers' at batches 2 and 32 (script_vs_diffusers.py)
#  5. "before": the build before the burst start alignment and the trailing decode (.gpu/old/: every module jar of
#     dda881b, first on the classpath), same settings
#  6. "after-inline": this build with a lone job's forwards on its own thread
# (in order of what matters most, so that a call cut short by the session's device time keeps the first parts)
# PART=b: this build again (the trailing decode mended after the first call) and diffusers.
# JSON lines in $OUT/s13$PART.jsonl, server logs beside them.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
L="$OUT/s13${PART:-}.jsonl"
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/# /' | tee -a "$L"
# a part cut by its timeout leaves its server running on the bench's port: stopped before the next part
S() { (OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 "$@") 2>&1 | grep -E '^[{#]' | tee -a "$L"
      pkill -f dev.jdiffuse.server.Main && sleep 2; true; }
T="-Djdiffuse.trace.forwards=true"
if [ "${PART:-}" = b ]; then
  # after the first call: the trailing decode with no window during the late jobs' forward, and diffusers
  S env LABEL=after2 RUN_TAG=-after2 JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
  exit 0
fi
S env LABEL=after RUN_TAG=-after JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
S env LABEL=after-opt RUN_TAG=-opt JAVA_OPTS="$T -Djdiffuse.scripted.optimize=true" timeout 100 bash bench/gpu/concurrency_bench.sh
timeout 80 python3 bench/gpu/script_vs_diffusers.py sd15 .gpu/scripts 2,32 2>&1 | grep '^{' | tee -a "$L"
S env LABEL=before RUN_TAG=-before CP=".gpu/old/*:.gpu/app/*" JAVA_OPTS="$T" timeout 100 bash bench/gpu/concurrency_bench.sh
S env LABEL=after-inline RUN_TAG=-inline JAVA_OPTS="$T -Djdiffuse.batcher.inline=true" timeout 70 bash bench/gpu/concurrency_bench.sh
