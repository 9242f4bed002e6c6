#!/usr/bin/env bash
# Installs ONNX Runtime's CUDA execution provider for onnxruntime-node from PyPI, for machines with an
# NVIDIA GPU (driver installed). onnxruntime-node's own installer fetches these libraries from NuGet
# (`--onnxruntime-node-install-cuda`); this route uses only the Python package index:
#   - onnxruntime-gpu of the same version as onnxruntime-node ships libonnxruntime_providers_cuda.so
#     and libonnxruntime_providers_shared.so, which the libonnxruntime.so.1 bundled with
#     onnxruntime-node loads when a session asks for the 'cuda' provider;
#   - its `cuda` and `cudnn` extras pull the CUDA runtime, cuBLAS, cuFFT, cuRAND, NVRTC and cuDNN
#     wheels (nvidia-*) that the provider links against.
# Nothing is installed system-wide: the wheels go to .cuda/ (or $ATLAS_CUDA_DIR) and the two provider
# libraries are copied next to onnxruntime-node's binding. Then:
#   export LD_LIBRARY_PATH="$(bash tools/install-cuda.sh --library-path)"
#   npx circuit-atlas trace "..." --model <dir> --execution-provider cuda
set -euo pipefail
cd "$(dirname "$0")/.."

target="${ATLAS_CUDA_DIR:-$PWD/.cuda}"
binding_dir="node_modules/onnxruntime-node/bin/napi-v6/linux/x64"

library_path() {
  local dirs=()
  for lib in "$target"/nvidia/*/lib; do [ -d "$lib" ] && dirs+=("$lib"); done
  if [ ${#dirs[@]} -eq 0 ]; then
    echo "install-cuda: no CUDA libraries in $target; run bash tools/install-cuda.sh first" >&2
    exit 1
  fi
  (IFS=:; echo "${dirs[*]}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
}

if [ "${1:-}" = "--library-path" ]; then
  library_path
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-cuda: PyPI's onnxruntime-gpu provider libraries are for Linux x86_64 only" >&2
  exit 1
fi
if [ ! -d "$binding_dir" ]; then
  echo "install-cuda: $binding_dir is missing; run npm install first" >&2
  exit 1
fi
version="$(node -p "require('./node_modules/onnxruntime-node/package.json').version")"
echo "install-cuda: onnxruntime-gpu[cuda,cudnn]==$version into $target (several GB)"
python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --upgrade --target "$target" \
  "onnxruntime-gpu[cuda,cudnn]==$version"
for lib in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
  cp "$target/onnxruntime/capi/$lib" "$binding_dir/$lib"
done
echo "install-cuda: provider libraries copied into $binding_dir"
echo "install-cuda: before running with --execution-provider cuda:"
echo "  export LD_LIBRARY_PATH=\"\$(bash tools/install-cuda.sh --library-path)\""
