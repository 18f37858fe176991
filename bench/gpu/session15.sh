#!/usr/bin/env bash
# Session 15 on the one-GPU device machine (repository root, .gpu/ carried as in bench/gpu/README.md), one call:
# CUDA graphs for the scripted UNet (native/cudagraphs, -Djdiffuse.cudaGraphs=LIB):
#  1. builds libjdiffuse_cudagraphs.so against the machine's torch (once per machine) and returns it
#  2. DenoiserBench unet_script: SD 1.5 at 2, 4, 8 and 32 rows (graphs allowed up to 32 rows here), op by op, one TorchScript call, and that call replayed as
#     a CUDA graph: host and synced times, each output against the op-by-op one
#  3. the server with graphs, then without (same build, same machine): 1, 4, 16 SD 1.5 users (warmed, forward trace),
#     and the seed-42 image of each, compared; then diffusers on the same folder
# PART=b: SDXL servers with and without graphs; PART=c: the ControlNet (script, graphs) and the --cuda-graphs flag;
# PART=d: graphs only for the weights as loaded (a patched parameter skips them); PART=e: a fresh server's first images
# with the default warm-up and --cuda-graphs
# JSON lines in $OUT/s15${PART}.jsonl, server logs beside them.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
L="$OUT/s15${PART:-}.jsonl"
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/# /' | tee -a "$L"
LIB=/tmp/libjdiffuse_cudagraphs.so
if [ ! -f "$LIB" ]; then
  t0=$(date +%s)
  JNI_INCLUDE=.gpu/jni bash native/cudagraphs/build.sh /tmp/libjdiffuse_cudagraphs.so 2>&1 | tail -30 | sed 's/^/# build: /' | tee -a "$L"
  cp "$LIB" "$OUT/"
  echo "# built in $(( $(date +%s) - t0 )) s" | tee -a "$L"
fi
[ -f "$LIB" ] || exit 1
S() { ("$@") 2>&1 | grep -E '^[{#]' | tee -a "$L"; pkill -f dev.jdiffuse.server.Main && sleep 2; true; }
T="-Djdiffuse.trace.forwards=true"
G="-Djdiffuse.cudaGraphs=$LIB"
if [ "${PART:-a}" = a ]; then
  timeout 170 bash .gpu/gpu-env.sh java -Dai.djl.offline=true $G -Djdiffuse.cudaGraphs.maxRows=32 -Dbench.models=sd15 -Dbench.batches=2,4,8,32 \
      -cp ".gpu/app/*" dev.jdiffuse.bench.DenoiserBench unet_script 2>&1 | grep -E '^\{|Exception|rror' | head -40 | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s15-graphs RUN_TAG=-graphs \
      IMAGE_OUT=$OUT/graphs JAVA_OPTS="$T $G" timeout 130 bash bench/gpu/concurrency_bench.sh
  grep -iE CudaGraph $OUT/server-sd15-cuda-16-graphs.log | head -5 | sed 's/^/# log: /' | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s15-script RUN_TAG=-script \
      IMAGE_OUT=$OUT/script JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  python3 bench/gpu/compare_images.py "sd15 seed 42: graphs vs script" $OUT/graphs-cuda-16.png $OUT/script-cuda-16.png | tee -a "$L"
  timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
fi
if [ "${PART:-a}" = b ]; then
  # SDXL 1024x1024, 20 steps: the server with graphs, then without, one image and 4 users, the seed-42 images
  # compared; then diffusers (one image, a batch of 4)
  S env OUT=$OUT FAMILY=sdxl SIZE=1024 STEPS=20 N=4 BATCHES=4 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s15b-graphs \
      RUN_TAG=-graphs IMAGE_OUT=$OUT/graphs JAVA_OPTS="$T $G" timeout 170 bash bench/gpu/concurrency_bench.sh
  grep -iE 'CudaGraph' $OUT/server-sdxl-cuda-4-graphs.log | head -5 | sed 's/^/# log: /' | tee -a "$L"
  S env OUT=$OUT FAMILY=sdxl SIZE=1024 STEPS=20 N=4 BATCHES=4 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s15b-script \
      RUN_TAG=-script IMAGE_OUT=$OUT/script JAVA_OPTS="$T" timeout 130 bash bench/gpu/concurrency_bench.sh
  python3 bench/gpu/compare_images.py "sdxl seed 42: graphs vs script" $OUT/graphs-cuda-4.png $OUT/script-cuda-4.png | tee -a "$L"
  SIZE=1024 timeout 90 python3 bench/gpu/e2e_diffusers.py /tmp/models/sdxl 20 4 2>&1 | grep '^{' | tee -a "$L"
fi
if [ "${PART:-a}" = c ]; then
  # the ControlNet: its scripted forward against op by op (GPU speed, not measured before), and a ControlNet-conditioned
  # step with graphs off and on (the UNet's graph then takes the residuals); the server as users run it, with the
  # --cuda-graphs flag instead of the system property (1 and 4 SD 1.5 users)
  timeout 150 bash .gpu/gpu-env.sh java -Dai.djl.offline=true $G -Dbench.batches=2 \
      -cp ".gpu/app/*" dev.jdiffuse.bench.DenoiserBench controlnet_script controlnet_graph 2>&1 | grep -E '^\{|Exception|rror' | head -20 | tee -a "$L"
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=4 BATCHES=16 WARMUP=1-2 SKIP_DIFFUSERS=1 LABEL=s15c-flag RUN_TAG=-flag \
      SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="$T" timeout 110 bash bench/gpu/concurrency_bench.sh
  grep -iE 'CudaGraph' $OUT/server-sd15-cuda-16-flag.log | head -3 | sed 's/^/# log: /' | tee -a "$L"
  timeout 60 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 4 2>&1 | grep '^{' | tee -a "$L"
fi
if [ "${PART:-a}" = d ]; then
  # after graphs were limited to the weights as loaded and the helper refuses other fixed tensors: the graph path at
  # 2 rows against the script, and a patched parameter (as a LoRA swaps one in) skipping the graph
  timeout 150 bash .gpu/gpu-env.sh java -Dai.djl.offline=true $G -Dbench.models=sd15 -Dbench.batches=2 \
      -cp ".gpu/app/*" dev.jdiffuse.bench.DenoiserBench unet_script graph_patched 2>&1 | grep -E '^\{|Exception|rror|WARN' | head -20 | tee -a "$L"
fi
if [ "${PART:-a}" = e ]; then
  # a fresh server with the defaults (--warmup-batches auto: one image on the GPU) and --cuda-graphs: the first
  # images after it listens (first_image.py), and the log lines of its warm-up and captures
  M=/tmp/models; mkdir -p $M
  [ -f $M/sd15/model_index.json ] || python3 bench/gpu/write_published.py sd15 .gpu/tok $M/sd15 2>&1 | grep '^{' | tee -a "$L"
  bash .gpu/gpu-env.sh java -Dai.djl.offline=true -cp ".gpu/app/*" dev.jdiffuse.server.Main serve --models $M \
      --device cuda --dtype fp16 --port 8191 --batch-images 16 --cuda-graphs $LIB > $OUT/server-first.log 2>&1 &
  # ready: the default model loaded (and warmed); the first request then pays nothing of the loading
  for i in $(seq 1 240); do curl -sf http://127.0.0.1:8191/readyz > /dev/null && break; sleep 0.5; done
  timeout 60 python3 bench/gpu/first_image.py 8191 sd15 "defaults + --cuda-graphs" | tee -a "$L"
  grep -E 'warmed up|CudaGraph' $OUT/server-first.log | cut -c1-220 | sed 's/^/# log: /' | tee -a "$L"
  pkill -f dev.jdiffuse.server.Main
fi
