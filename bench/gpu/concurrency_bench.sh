#!/usr/bin/env bash
# Issue 13's table in one command, on the GPU machine, from the repository root with .gpu/ carried (bench/gpu/README.md):
# writes a full-size random-weight SD 1.5 (or SDXL) folder with diffusers, serves it with the jdiffuse server (fp16)
# with and without cross-request batching, drives 1, 4 and N concurrent users, runs diffusers side by side (one image
# at a time, batches of 4 and N), and prints JSON lines (append them to docs/perf/). Same machine, same run: only the
# ratios between these lines mean anything (hosts of one kind differ by up to 2x).
# Two GPUs (nvidia-h200-x2), one device against both, 32 users, no diffusers:
#   DEVICE_SETS="cuda:0 cuda:0,cuda:1" N=32 BATCHES=16 SKIP_DIFFUSERS=1 bash bench/gpu/concurrency_bench.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
FAMILY=${FAMILY:-sd15}   # sd15 (512x512, 25 steps, N=16) or sdxl (SIZE=1024 STEPS=20 N=4 BATCHES="4 1")
STEPS=${STEPS:-25}; N=${N:-16}; export SIZE=${SIZE:-512}
JAVA_OPTS=${JAVA_OPTS:-}
# SERVER_ARGS: more flags for `serve` (e.g. "--cuda-graphs /tmp/libjdiffuse_cudagraphs.so")
# CP: the server's classpath (default the kit's jars); e.g. ".gpu/old/*:.gpu/app/*" puts an earlier build of one module
# first, to measure a change against the code before it in the same run (RUN_TAG then keeps their logs apart)
CP=${CP:-.gpu/app/*}
# the diffusers source as .tgz or .txz (xz keeps the carried .gpu/ under the device's 64 MiB); unpacked once per machine
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d PYTHONUNBUFFERED=1
# the random-weight folder is written once per machine and family (later parts of one run reuse it)
M=/tmp/models; mkdir -p "$M"
[ -f "$M/$FAMILY/model_index.json" ] || python3 bench/gpu/write_published.py "$FAMILY" .gpu/tok "$M/$FAMILY" 2>&1 | grep '^{'
# DEVICE_SETS: the --devices values to compare, space-separated (default "cuda": one GPU, as before). Each set is
# served with each BATCHES.
for DEVICES in ${DEVICE_SETS:-cuda}; do
TAG=$(echo "$DEVICES" | tr ':,' '-_')
LABEL_DEVICES=""; [ -n "${DEVICE_SETS:-}" ] && LABEL_DEVICES=" devices=$DEVICES"
# DECODES: the --batch-decode-images values to serve each BATCHES value > 1 with (default "0": as --batch-images;
# "0 1" compares decoding the jobs that finish together in one VAE call against each job alone, in one run);
# WINDOW_MS: --batch-window-ms (default the server's, 20), which also bounds a decoding's wait for its companions;
# WARMUP: --warmup-batches (e.g. 1-16: each batch size generated once at load, before the client's first request)
for BATCH in ${BATCHES:-16 1}; do
for DECODE in ${DECODES:-0}; do
  [ "$BATCH" = 1 ] && [ "$DECODE" != "$(echo ${DECODES:-0} | cut -d' ' -f1)" ] && continue
  LABEL_DECODE=""; [ -n "${DECODES:-}" ] && [ "$BATCH" != 1 ] && LABEL_DECODE=" batch-decode-images=$DECODE"
  LOG="$OUT/server-$FAMILY-$TAG-$BATCH${DECODES:+-d$DECODE}${RUN_TAG:-}.log"
  # gpu-env.sh execs java, so $! is the server itself (a shell function here would leave it running after kill)
  bash .gpu/gpu-env.sh java -Dai.djl.offline=true $JAVA_OPTS -cp "$CP" dev.jdiffuse.server.Main serve \
      --models "$M" --devices "$DEVICES" --dtype fp16 --port 8191 --queue-size 64 --batch-images "$BATCH" \
      --batch-decode-images "$DECODE" ${WINDOW_MS:+--batch-window-ms $WINDOW_MS} ${WARMUP:+--warmup-batches $WARMUP} \
      --output-dir "/tmp/outputs-$TAG-$BATCH-$DECODE" ${SERVER_ARGS:-} > "$LOG" 2>&1 &
  SERVER=$!
  for i in $(seq 1 240); do grep -q 'listening on' "$LOG" && break; kill -0 $SERVER 2>/dev/null || break; sleep 1; done
  python3 bench/gpu/e2e_client.py 8191 "$STEPS" "$N" "${LABEL:+$LABEL }$FAMILY batch-images=$BATCH$LABEL_DECODE${WINDOW_MS:+ batch-window-ms=$WINDOW_MS}${WARMUP:+ warmup-batches=$WARMUP}$LABEL_DEVICES${JAVA_OPTS:+ $JAVA_OPTS}"
  # IMAGE_OUT=PREFIX: also the seed-42 image of server_image.py, saved as PREFIX-TAG-BATCH.png (to compare two builds)
  [ -n "${IMAGE_OUT:-}" ] && python3 bench/gpu/server_image.py 8191 "$FAMILY" "$IMAGE_OUT-$TAG-$BATCH.png" "$SIZE" "$STEPS"
  # per-device series carry a device label: jdiffuse_batch_jobs_count{device="cuda:0"} ...
  curl -s http://127.0.0.1:8191/metrics | grep -E '^jdiffuse_(batch|decode|forward|device)[a-z_]*(_sum|_count)?[ {]' \
      | grep -v _bucket | sed 's/^/# /'
  kill $SERVER; wait $SERVER 2>/dev/null
  # with -Djdiffuse.trace.forwards=true in JAVA_OPTS: the forwards of each burst (trace_summary.py)
  python3 bench/gpu/trace_summary.py "$LOG" "$FAMILY batch-images=$BATCH$LABEL_DECODE${JAVA_OPTS:+ $JAVA_OPTS}"
done
done
done
[ -n "${SKIP_DIFFUSERS:-}" ] && exit 0
python3 bench/gpu/e2e_diffusers.py "$M/$FAMILY" "$STEPS" "$N" 2>&1 | grep '^{'
