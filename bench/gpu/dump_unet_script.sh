#!/usr/bin/env bash
# usage (development machine, after mvn install): bash bench/gpu/dump_unet_script.sh OUT_DIR
# writes OUT_DIR/{sd15,sdxl}_unet_script.pt and _names.txt for script_vs_diffusers.py
set -eu
OUT=${1:-.gpu/scripts}; mkdir -p "$OUT"
R=~/.m2/repository
CP="server/target/server-0.1.0-SNAPSHOT.jar:bench/target/jdiffuse-bench-0.1.0-SNAPSHOT.jar:$(mvn -q -o -pl bench dependency:build-classpath -Dmdep.outputFile=/dev/stdout)"
java -Dai.djl.offline=true ${JAVA_OPTS:-} -cp "$CP" bench/gpu/DumpUnetScript.java "$OUT"
ls -la "$OUT"
