#!/usr/bin/env bash
# Builds libjdiffuse_cudagraphs.so (jdiffuse_cudagraphs.cc) against a libtorch with CUDA: the one DJL's JNI library
# loads in the server's process (its headers and libraries must be the same version). Defaults: the torch of the
# python3 on PATH (as on the project's GPU measuring machine, ../shared/device) and the JNI headers of JAVA_HOME.
# -z now: every symbol is resolved when the JVM loads it, so a helper built against another libtorch than the
# process's fails to load (CudaGraphs logs it and keeps graphs off) instead of aborting at its first capture.
# usage: bash native/cudagraphs/build.sh OUT.so   [TORCH_DIR=... CUDA_HOME=... JNI_INCLUDE=...]
set -euo pipefail
out=${1:?usage: build.sh OUT.so}
mkdir -p "$(dirname "$out")"
here=$(cd "$(dirname "$0")" && pwd)
TORCH_DIR=${TORCH_DIR:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
JNI_INCLUDE=${JNI_INCLUDE:-${JAVA_HOME:?set JAVA_HOME or JNI_INCLUDE}/include}
abi=${CXX11_ABI:-$(python3 -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))' 2>/dev/null || echo 1)}
"${CXX:-g++}" -O2 -shared -fPIC -std=c++17 -D_GLIBCXX_USE_CXX11_ABI="$abi" \
  -I"$JNI_INCLUDE" -I"$JNI_INCLUDE/linux" -I"$TORCH_DIR/include" -I"$TORCH_DIR/include/torch/csrc/api/include" \
  -I"$CUDA_HOME/include" "$here/jdiffuse_cudagraphs.cc" \
  -L"$TORCH_DIR/lib" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -Wl,-rpath,"$TORCH_DIR/lib" -Wl,-z,now \
  -o "$out"
echo "built $out against $TORCH_DIR"
