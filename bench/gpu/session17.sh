#!/usr/bin/env bash
# Session 17's one call on the one-GPU device machine (device time was scarce: session16.sh's parts a and b, without
# its polling-client run, in one call). Repository root, .gpu/ carried as in bench/gpu/README.md:
#  1. the SD 1.5 server with --cuda-graphs and the phase trace: 1, 4 and 16 users with the waiting client (the one
#     image against 25 forwards + decode: issue 13's 1.1x), then 4 users with the phases synced and the forward trace (where the 13-18 ms
#     outside encode, denoise and decode went), then diffusers on the same folder;
#  2. a fresh server's first images (defaults, --cuda-graphs) with the GC log: is session 15's 175 ms first finish a
#     garbage-collection pause?
# JSON lines in $OUT/s17.jsonl, server logs beside them.
SESSION=s17 . bench/gpu/session_setup.sh
[ -f "$LIB" ] || exit 1
P="-Djdiffuse.trace.phases=true"
S env OUT=$OUT FAMILY=sd15 STEPS=25 N=16 BATCHES=16 WARMUP=1-16 SKIP_DIFFUSERS=1 LABEL=s17-wait RUN_TAG=-wait \
    SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="$P" timeout 130 bash bench/gpu/concurrency_bench.sh
grep '"phases"' $OUT/server-sd15-cuda-16-wait.log | head -12 | tee -a "$L"
S env OUT=$OUT FAMILY=sd15 STEPS=25 N=4 BATCHES=16 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s17-synced RUN_TAG=-synced \
    SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="$P -Djdiffuse.trace.phases.sync=true -Djdiffuse.trace.forwards=true" timeout 100 \
    bash bench/gpu/concurrency_bench.sh
grep '"phases"' $OUT/server-sd15-cuda-16-synced.log | head -12 | tee -a "$L"
timeout 80 python3 bench/gpu/e2e_diffusers.py /tmp/models/sd15 25 16 2>&1 | grep '^{' | tee -a "$L"
bash .gpu/gpu-env.sh java -Dai.djl.offline=true $P -Xlog:gc:file=$OUT/gc-first.log -cp ".gpu/app/*" \
    dev.jdiffuse.server.Main serve --models /tmp/models --device cuda --dtype fp16 --port 8191 --batch-images 16 \
    --cuda-graphs $LIB > $OUT/server-first.log 2>&1 &
for i in $(seq 1 240); do curl -sf http://127.0.0.1:8191/readyz > /dev/null && break; sleep 0.5; done
timeout 60 python3 bench/gpu/first_image.py 8191 sd15 "defaults + --cuda-graphs, GC log" | tee -a "$L"
grep '"phases"' $OUT/server-first.log | head -4 | tee -a "$L"
tail -8 $OUT/gc-first.log | sed 's/^/# gc: /' | tee -a "$L"
pkill -f dev.jdiffuse.server.Main
