#!/usr/bin/env bash
# Session 18's call on the one-GPU device machine: the tiled VAE decoding against diffusers' (a minute), then
# session 17's script (never run: no machine started in session 17) in the time left. Repository root, .gpu/ carried
# as in bench/gpu/README.md. JSON lines in $OUT/s18.jsonl (and $OUT/s17.jsonl for session 17's parts).
SESSION=s18 . bench/gpu/session_setup.sh
M=/tmp/models; mkdir -p $M /tmp/vt
[ -f $M/sd15/model_index.json ] || python3 bench/gpu/write_published.py sd15 .gpu/tok $M/sd15 2>&1 | grep '^{' | tee -a "$L"
# SD 1.5's VAE layout (random weights), 1024x1024 in tiles of 512 pixels (diffusers' default for it): 3 x 3 tiles
timeout 200 python3 bench/gpu/vae_tiling_parity.py $M/sd15/vae /tmp/vt 1024 512 2>&1 | grep -E '^[{#]|Error' | tee -a "$L"
echo "# vae tiling part done at ${SECONDS} s" | tee -a "$L"
[ -n "${VAE_ONLY:-}" ] && exit 0
OUT=$OUT timeout $((575 - SECONDS)) bash bench/gpu/session17.sh
