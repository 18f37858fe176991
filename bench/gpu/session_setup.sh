# Sourced by the session scripts from session 16 on (the earlier ones keep their own copy, as they ran): with
# SESSION set (e.g. s16), makes $OUT, sets $L to the session's JSON-lines file ($OUT/$SESSION$PART.jsonl), unpacks
# the kit's diffusers sources, records the GPU's name, builds the CUDA-graph helper once per machine into $LIB, and
# defines S: run a command, keep its JSON and comment lines in $L, stop any server it left.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
L="$OUT/${SESSION}${PART:-}.jsonl"
[ -d /tmp/d/diffusers ] || python3 -c 'import glob, tarfile; tarfile.open(glob.glob(".gpu/diffusers-src.t*z")[0]).extractall("/tmp/d")'
export DIFFUSERS_SRC=/tmp/d PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader | sed 's/^/# /' | tee -a "$L"
LIB=/tmp/libjdiffuse_cudagraphs.so
if [ ! -f "$LIB" ]; then
  JNI_INCLUDE=.gpu/jni bash native/cudagraphs/build.sh "$LIB" 2>&1 | tail -30 | sed 's/^/# build: /' | tee -a "$L"
fi
S() { ("$@") 2>&1 | grep -E '^[{#]' | tee -a "$L"; pkill -f dev.jdiffuse.server.Main && sleep 2; true; }
