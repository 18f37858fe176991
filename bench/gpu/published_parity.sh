#!/usr/bin/env bash
# On the GPU machine, from the repository root with .gpu/ carried (see ../../../shared/device/README.md's recipe, or
# bench/gpu/README.md): writes full-size random-weight SD 1.5 (as published: PNDM, safety checker) and SDXL folders
# with diffusers, makes one image with diffusers (fp16 and fp32) and the same image through the jdiffuse server
# (fp16), and compares them; then runs the bfloat16 probes. Prints JSON lines; PNGs and logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
# the diffusers source as .tgz or .txz (xz keeps the carried .gpu/ under the device's 64 MiB); unpacked once per machine
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d
M=/tmp/models; rm -rf "$M"; mkdir -p "$M"
FAMILIES=${FAMILIES:-"sd15 sdxl"}
for f in $FAMILIES; do python3 bench/gpu/write_published.py "$f" .gpu/tok "$M/$f" 2>&1 | grep -v Warning | tail -2; done
size() { [ "$1" = sdxl ] && echo 1024 || echo 512; }
steps() { [ "$1" = sdxl ] && echo 20 || echo 25; }
for f in $FAMILIES; do
  for dt in fp16 fp32; do
    python3 bench/gpu/diffusers_image.py "$M/$f" "$OUT/${f}_diffusers_$dt.png" "$(size $f)" "$(steps $f)" $dt 2>&1 | grep '^{'
  done
done
java_run() { bash .gpu/gpu-env.sh java -Dai.djl.offline=true -cp ".gpu/app/*" "$@"; }
java_run dev.jdiffuse.server.Main serve --models "$M" --device cuda --dtype fp16 --port 8190 > "$OUT/server.log" 2>&1 &
SERVER=$!
# ready, or every model tried (a model that fails to load leaves the server up but not ready)
for i in $(seq 1 240); do curl -sf http://127.0.0.1:8190/readyz > /dev/null && break; kill -0 $SERVER 2>/dev/null || break
  grep -q 'listening on' "$OUT/server.log" && break; sleep 1; done
grep -o 'loaded model .*' "$OUT/server.log" | sed 's/^/# /'
for f in $FAMILIES; do
  python3 bench/gpu/server_image.py 8190 "$f" "$OUT/${f}_jdiffuse_fp16.png" "$(size $f)" "$(steps $f)"
  python3 bench/gpu/compare_images.py "$f jdiffuse fp16 vs diffusers fp16" "$OUT/${f}_jdiffuse_fp16.png" "$OUT/${f}_diffusers_fp16.png"
  python3 bench/gpu/compare_images.py "$f jdiffuse fp16 vs diffusers fp32" "$OUT/${f}_jdiffuse_fp16.png" "$OUT/${f}_diffusers_fp32.png"
  python3 bench/gpu/compare_images.py "$f diffusers fp16 vs diffusers fp32 (the fp16 floor)" "$OUT/${f}_diffusers_fp16.png" "$OUT/${f}_diffusers_fp32.png"
done
kill $SERVER; wait $SERVER 2>/dev/null
grep -iE 'error|exception' "$OUT/server.log" | head -5
[ "${PROBES:-1}" = 1 ] && for p in ${PROBE_LIST:-control_fp16 cast matmul conv layernorm softmax upload download}; do
  timeout 120 bash .gpu/gpu-env.sh java -Dai.djl.offline=true -cp ".gpu/app/*" dev.jdiffuse.bench.Bf16Probe $p gpu 2>"/tmp/bf16_$p.err" | grep '^{' || echo "{\"probe\":\"$p\",\"ok\":false,\"exit\":\"process died\",\"stderr_tail\":\"$(tail -c 300 "/tmp/bf16_$p.err" | tr '\n"' ' \x27')\"}"
done
