#!/usr/bin/env bash
# Session 18's second call: (1) the tiled VAE check again, with the first tile decoded alone by both (a kernel
# difference on a tile's shape against a difference of the tiling); (2) the UNet forward at 2 rows replayed as a CUDA
# graph, synced (the "steps x forward" of issue 13's 1.1x); (3) the one image end to end, waiting client, same call.
SESSION=s18 PART=b . bench/gpu/session_setup.sh
[ -f "$LIB" ] || exit 1
M=/tmp/models; mkdir -p $M /tmp/vt
[ -f $M/sd15/model_index.json ] || python3 bench/gpu/write_published.py sd15 .gpu/tok $M/sd15 2>&1 | grep '^{' | tee -a "$L"
timeout 120 python3 bench/gpu/vae_tiling_parity.py $M/sd15/vae /tmp/vt 1024 512 2>&1 | grep -E '^[{#]|Error' | tee -a "$L"
echo "# vae part done at ${SECONDS} s" | tee -a "$L"
timeout 150 bash .gpu/gpu-env.sh java -Dai.djl.offline=true -Djdiffuse.cudaGraphs=$LIB -Dbench.models=sd15 \
    -Dbench.batches=2 -cp ".gpu/app/*" dev.jdiffuse.bench.DenoiserBench unet_script 2>&1 \
    | grep -E '^\{|Exception|rror' | head -20 | tee -a "$L"
echo "# forward part done at ${SECONDS} s" | tee -a "$L"
[ -n "${SHORT:-}" ] && exit 0  # little device time left: the VAE check and the forward only
S env OUT=$OUT FAMILY=sd15 STEPS=25 N=4 BATCHES=16 WARMUP=1-4 SKIP_DIFFUSERS=1 LABEL=s18-one RUN_TAG=-one \
    SERVER_ARGS="--cuda-graphs $LIB" JAVA_OPTS="-Djdiffuse.trace.phases=true" timeout 120 bash bench/gpu/concurrency_bench.sh
echo "# done at ${SECONDS} s" | tee -a "$L"
