#!/usr/bin/env bash
# Session 17's one call on the one-GPU device machine (device time was scarce: session16.sh's parts a and b, without
# its polling-client run, and a GPU timeline, in one call). Repository root, .gpu/ carried as in bench/gpu/README.md.
# In order of worth; a part is skipped when the call's time would not leave it room:
#  1. where the GPU idles inside one image: the server under Nsight Systems (when the machine has nsys), its kernels'
#     timeline split into images and gaps (nsys_gaps.py): the GPU's own time per image against the image's span;
#  2. the SD 1.5 server with --cuda-graphs and the phase trace: 1, 4 and 16 users with the waiting client (the one
#     image against 25 forwards + decode: issue 13's 1.1x); then diffusers on the same folder;
#  3. 4 users with the phases synced and the forward trace (where the 13-18 ms outside encode, denoise and decode
#     went);
#  4. a fresh server's first images with the GC log: is session 15's 175 ms first finish a garbage-collection pause?
# JSON lines in $OUT/s17.jsonl, server logs beside them. SHORT=1: see below.
SESSION=s17 . bench/gpu/session_setup.sh
[ -f "$LIB" ] || exit 1
P="-Djdiffuse.trace.phases=true"
SERVE="dev.jdiffuse.server.Main serve --models /tmp/models --device cuda --dtype fp16 --batch-images 16 --cuda-graphs $LIB"
M=/tmp/models; mkdir -p $M
[ -f $M/sd15/model_index.json ] || python3 bench/gpu/write_published.py sd15 .gpu/tok $M/sd15 2>&1 | grep '^{' | tee -a "$L"
NSYS=""; [ "${SHORT:-}" = users ] || NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys \
    /usr/local/cuda*/nsight-systems*/bin/nsys 2>/dev/null | head -1)
if [ -z "$NSYS" ]; then
  echo "# no nsys (none on this machine, or SHORT=users)" | tee -a "$L"
else
  bash .gpu/gpu-env.sh "$NSYS" profile -t cuda -o $OUT/one --force-overwrite true \
      java -Dai.djl.offline=true -cp ".gpu/app/*" $SERVE --port 8192 > $OUT/server-nsys.log 2>&1 &
  NS=$!
  for i in $(seq 1 180); do curl -sf http://127.0.0.1:8192/readyz > /dev/null && break; sleep 0.5; done
  timeout 60 python3 bench/gpu/first_image.py 8192 sd15 "under nsys -t cuda" | tee -a "$L"
  pkill -x java; timeout 60 tail --pid=$NS -f /dev/null  # the server (nsys is named nsys); nsys then writes
  timeout 60 "$NSYS" stats -r cuda_gpu_trace -f csv -o $OUT/one $OUT/one.nsys-rep > /dev/null 2>&1
  CSV=$(ls $OUT/one*gpu_trace*.csv 2>/dev/null | head -1)
  [ -n "$CSV" ] && python3 bench/gpu/nsys_gaps.py "$CSV" "jdiffuse sd15 one image, --cuda-graphs" | tee -a "$L"
  rm -f $OUT/one.qdstrm $OUT/one.sqlite; gzip -f "$CSV" 2>/dev/null
  echo "# nsys part done at ${SECONDS} s" | tee -a "$L"
fi
# SHORT=1 (little device time left): the timeline only, or without nsys (or with SHORT=users) the one image and 4
# users
[ -n "${SHORT:-}" ] && [ "$SHORT" != users ] && [ -n "$NSYS" ] && exit 0
if [ -n "${SHORT:-}" ]; then
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=4 BATCHES=16 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s17-short RUN_TAG=-short \
      SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="$P" timeout 120 bash bench/gpu/concurrency_bench.sh
  grep '"phases"' $OUT/server-sd15-cuda-16-short.log | head -8 | tee -a "$L"
  exit 0
fi

if [ $SECONDS -lt 400 ]; then
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s17-wait RUN_TAG=-wait \
    SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="$P" timeout 130 bash bench/gpu/concurrency_bench.sh
grep '"phases"' $OUT/server-sd15-cuda-16-wait.log | head -12 | tee -a "$L"
timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
echo "# users part done at ${SECONDS} s" | tee -a "$L"
fi

if [ $SECONDS -lt 450 ]; then
  S env OUT=$OUT FAMILY=sd15 STEPS=25 N=4 BATCHES=16 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s17-synced RUN_TAG=-synced \
      SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="$P -Djdiffuse.trace.phases.sync=true -Djdiffuse.trace.forwards=true" \
      timeout 100 bash bench/gpu/concurrency_bench.sh
  grep '"phases"' $OUT/server-sd15-cuda-16-synced.log | head -12 | tee -a "$L"
fi

if [ $SECONDS -lt 520 ]; then
  bash .gpu/gpu-env.sh java -Dai.djl.offline=true $P -Xlog:gc:file=$OUT/gc-first.log -cp ".gpu/app/*" $SERVE \
      --port 8191 > $OUT/server-first.log 2>&1 &
  for i in $(seq 1 240); do curl -sf http://127.0.0.1:8191/readyz > /dev/null && break; sleep 0.5; done
  timeout 50 python3 bench/gpu/first_image.py 8191 sd15 "defaults + --cuda-graphs, GC log" | tee -a "$L"
  grep '"phases"' $OUT/server-first.log | head -4 | tee -a "$L"
  tail -8 $OUT/gc-first.log | sed 's/^/# gc: /' | tee -a "$L"
  pkill -f dev.jdiffuse.server.Main
fi
echo "# done at ${SECONDS} s" | tee -a "$L"
