#!/usr/bin/env bash
# Builds the device kit (bench/gpu/README.md, session 12) in KIT (default .gpu) on the development machine, small
# enough to travel in ONE device call beside the repository's tracked files (models-default/ and training/ moved out):
# a Java runtime jlinked uncompressed and packed with xz (17 MB), gpu-env.sh reading any tar compression, the DJL JNI
# library for the machine's torch, the project's jars and runtime dependencies (without DJL's CPU natives), a CLIP
# tokenizer, the diffusers source as .txz and the UNet/FLUX TorchScript archives for script_vs_diffusers.py.
# usage: bash bench/gpu/make-kit.sh [KIT]   (after `mvn -o -q install -DskipTests`; needs ../shared/device)
set -euo pipefail
KIT=$(mkdir -p "${1:-.gpu}" && cd "${1:-.gpu}" && pwd)
SHARED=${SHARED:-../shared/device}
mkdir -p "$KIT/app" "$KIT/tok"
tmp=$(mktemp -d)
"${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}/bin/jlink" --add-modules \
  java.base,java.logging,java.management,java.naming,java.net.http,java.sql,java.xml,java.desktop,jdk.unsupported,jdk.crypto.ec,jdk.zipfs,jdk.httpserver \
  --compress=0 --strip-debug --no-header-files --no-man-pages --output "$tmp/jre"
tar cf - -C "$tmp" jre | xz -9e -T2 > "$KIT/jre.txz"
rm -rf "$tmp" "$KIT/jre.tgz"
# the shared gpu-env.sh, unpacking the runtime whatever its compression
sed 's|tar xzf "$kit/jre.tgz" -C /tmp|python3 -c "import glob, tarfile; tarfile.open(glob.glob('"'"'$kit/jre.t*z'"'"')[0]).extractall('"'"'/tmp'"'"')"|' \
  "$SHARED/gpu-env.sh" > "$KIT/gpu-env.sh"
grep -q tarfile "$KIT/gpu-env.sh" || { echo "gpu-env.sh: the runtime unpacking line was not found" >&2; exit 1; }
cp "$SHARED"/libdjl_torch-*.so "$KIT/"
d=$(mktemp -d); tar xzf "$SHARED/diffusers-src.tgz" -C "$d"; tar cf - -C "$d" . | xz -9e -T2 > "$KIT/diffusers-src.txz"; rm -rf "$d"
cp models-default/emoji-sd/tokenizer/* "$KIT/tok/"
# JNI headers for native/cudagraphs/build.sh (the machine has g++ and CUDA but no Java)
J=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
mkdir -p "$KIT/jni/linux"; cp "$J/include/jni.h" "$KIT/jni/"; cp "$J/include/linux/jni_md.h" "$KIT/jni/linux/"
mvn -B -q -o -DskipTests dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KIT/app" >/dev/null
rm -f "$KIT"/app/pytorch-jni-*.jar "$KIT"/app/pytorch-native-cpu-*.jar "$KIT"/app/*-tests.jar
for m in models safetensors samplers schedulers server; do cp "$m/target/$m-0.1.0-SNAPSHOT.jar" "$KIT/app/"; done
cp bench/target/jdiffuse-bench-0.1.0-SNAPSHOT.jar "$KIT/app/"
bash bench/gpu/dump_unet_script.sh "$KIT/scripts" >/dev/null
du -sh "$KIT"
