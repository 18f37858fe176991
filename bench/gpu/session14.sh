#!/usr/bin/env bash
# Session 14 on the one-GPU device machine (repository root, .gpu/ carried as in bench/gpu/README.md), one call:
#  1. attention_backends.py: each scaled-dot-product-attention kernel (flash, memory-efficient, cuDNN, PyTorch's pick)
#     on the SD 1.5 / SDXL / SD VAE attention shapes, and whole diffusers forwards under each (Python only)
#  2. SDXL 1024x1024, 20 steps: this build, one image and 4 users (warmed, forward trace), then diffusers (one image,
#     a batch of 4) on the same folder: issue 13's SDXL target, not measured since session 11
#  3. SD 1.5 512x512, 25 steps: this build, 1, 4 and 16 users (warmed, forward trace), then diffusers
# PART=b: the scripted UNet with GEGLU split into two linears, with GroupNorm through cuDNN's batch norm, and both,
#  beside the default script and diffusers (script_vs_diffusers.py VARIANTS; dump_unet_script.sh into .gpu/scripts/
#  split, bn, both with -Djdiffuse.unet.splitGeglu=true / -Djdiffuse.groupNorm=bn); the server by default and with
#  both (1, 4, 16 SD 1.5 users); diffusers; groupnorm_probe.py (GroupNorm formulations, diffusers' ops by GPU time).
#  Those two properties were experiments in the working tree of that call and are not in the code: the split GEGLU
#  was kept as the default from 8 rows, the batch-norm GroupNorm dropped (README "Performance", session 14)
# PART=c: the split GEGLU kept (from 8 rows): scripts against diffusers and the earlier script; this build, diffusers
#  and the build of d0ae107 (.gpu/old/) with 1, 4, 16 SD 1.5 users; SDXL with 1 and 4 users and diffusers
# PART=d: one image at a time, this build and d0ae107's alternating (twice each)
# PART=e: the conv bias adds folded (-Djdiffuse.unet.tembBias, -Djdiffuse.unet.projLinear: experiments of that call's
#  working tree, both the code's only path since) as script variants, the server with both, diffusers
# (in order of what matters most, so that a call cut short keeps the first parts)
# JSON lines in $OUT/s14${PART}.jsonl, server logs beside them.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
L="$OUT/s14${PART:-}.jsonl"
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/# /' | tee -a "$L"
# a part cut by its timeout leaves its server running on the bench's port: stopped before the next part
S() { ("$@") 2>&1 | grep -E '^[{#]' | tee -a "$L"; pkill -f dev.jdiffuse.server.Main && sleep 2; true; }
T="-Djdiffuse.trace.forwards=true"
if [ "${PART:-a}" = a ]; then
  timeout 170 python3 bench/gpu/attention_backends.py 2>&1 | grep '^{' | tee -a "$L"
  S env OUT=$OUT FAMILY=sdxl SIZE=1024 STEPS=20 N=4 BATCHES=4 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s14 RUN_TAG=-s14 \
      JAVA_OPTS="$T" timeout 150 bash bench/gpu/concurrency_bench.sh
  SIZE=1024 timeout 90 python3 bench/gpu/e2e_diffusers.py /tmp/models/sdxl 20 4 2>&1 | grep '^{' | tee -a "$L"
  rm -rf /tmp/models/sdxl
fi
if [ "${PART:-a}" = b ]; then
  VARIANTS=split,bn,both timeout 150 python3 bench/gpu/script_vs_diffusers.py sd15 .gpu/scripts 2,32 2>&1 | grep '^{' | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s14b-default RUN_TAG=-default \
      JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s14b-split-bn RUN_TAG=-splitbn \
      JAVA_OPTS="$T -Djdiffuse.unet.splitGeglu=true -Djdiffuse.groupNorm=bn" timeout 110 bash bench/gpu/concurrency_bench.sh
  timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
  timeout 100 python3 bench/gpu/groupnorm_probe.py 2>&1 | grep '^{' | tee -a "$L"
  exit 0
fi
if [ "${PART:-a}" = c ]; then
  # the split GEGLU from 8 rows (UNetScriptSource.SPLIT_GEGLU_ROWS) as the default script, the earlier script (chunk
  # at every batch size) in .gpu/scripts/chunk; the server after and before it (.gpu/old: the build of d0ae107)
  VARIANTS=chunk timeout 120 python3 bench/gpu/script_vs_diffusers.py sd15 .gpu/scripts 2,32 2>&1 | grep '^{' | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s14c-after RUN_TAG=-after \
      JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s14c-before RUN_TAG=-before \
      CP=".gpu/old/*:.gpu/app/*" JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  S env OUT=$OUT FAMILY=sdxl SIZE=1024 STEPS=20 N=4 BATCHES=4 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s14c-after RUN_TAG=-after \
      JAVA_OPTS="$T" timeout 150 bash bench/gpu/concurrency_bench.sh
  SIZE=1024 timeout 90 python3 bench/gpu/e2e_diffusers.py /tmp/models/sdxl 20 4 2>&1 | grep '^{' | tee -a "$L"
  exit 0
fi
if [ "${PART:-a}" = d ]; then
  # one image at a time (and 4 users), this build and the build of d0ae107 alternating on one machine: the 2-row
  # forward took 21.7 ms (median) in part c's first server and 12.6 in its last, with the same script at 2 rows
  for B in after before after before; do
    CPB=".gpu/app/*"; [ $B = before ] && CPB=".gpu/old/*:.gpu/app/*"
    S env OUT=$OUT FAMILY=sd15 STEPS=25 N=4 BATCHES=16 WARMUP=1-2 SKIP_DIFFUSERS=1 LABEL=s14d-$B RUN_TAG=-d$B \
        CP="$CPB" JAVA_OPTS="$T" timeout 60 bash bench/gpu/concurrency_bench.sh
  done
  exit 0
fi
if [ "${PART:-a}" = e ]; then
  # two more candidates against the strided bias adds (scripts in .gpu/scripts/{tb,pl,both}): tb, each resnet's conv1
  # bias added to its [B, C] time-embedding projection (one broadcast add of the feature map instead of two) and, with
  # a shortcut, conv2's bias folded into the shortcut's; pl, SD 1.5's 1x1 proj_in / proj_out as linears (bias in the
  # GEMM); then the server with both and diffusers
  VARIANTS=tb,pl,both timeout 100 python3 bench/gpu/script_vs_diffusers.py sd15 .gpu/scripts 2,32 2>&1 | grep '^{' | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s14e-tb-pl RUN_TAG=-tbpl \
      JAVA_OPTS="$T -Djdiffuse.unet.tembBias=true -Djdiffuse.unet.projLinear=true" timeout 95 bash bench/gpu/concurrency_bench.sh
  timeout 60 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
  exit 0
fi
if [ "${PART:-a}" != c ]; then
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s14 RUN_TAG=-s14 \
      JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
fi
