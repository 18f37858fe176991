#!/bin/bash
# One device run (repository root on the GPU machine, .train carried). Usage:
#   bash .train/device_run.sh VAE_SECONDS UNET_SECONDS fresh|resume [train.py options...]
# With "resume", continues from .train/resume/emoji-sd (an earlier run's export, unpacked).
set -eo pipefail
export PYTHONUNBUFFERED=1 DIFFUSERS_SRC=/tmp/d
mkdir -p /tmp/d && tar xzf .train/diffusers-src.tgz -C /tmp/d
R=""; [ "$3" = resume ] && R="--resume .train/resume/emoji-sd"
if [ -z "$NO_SMOKE" ]; then  # a few seconds of every phase first, so a bug in export/eval costs one minute, not ten
  python3 .train/train.py --out /tmp/smoke --vae-seconds 3 --unet-seconds 3 --eval-seconds 3 $R "${@:4}" 2>&1 | tail -5
fi
python3 .train/train.py --out /tmp/o --vae-seconds "$1" --unet-seconds "$2" $R "${@:4}" 2>&1 | tee $OUT/train.log
cp /tmp/o/eval.json /tmp/o/samples.png $OUT/
tar cf /tmp/emoji-sd.tar -C /tmp/o emoji-sd && split -b 15M /tmp/emoji-sd.tar $OUT/emoji-sd.tar.part-
ls -la $OUT
