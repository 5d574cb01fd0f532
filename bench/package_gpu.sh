#!/usr/bin/env bash
# Builds ringlab's GPU binaries here (sm_90 by default) and packs them, with the shared libraries
# they need (found with ldd), into one folder to carry to a GPU machine:
#   bench/package_gpu.sh [OUT_DIR] [CUDA_ARCHS]      (defaults: dist/ringlab-gpu, 90)
# On the GPU machine:  cd ringlab-gpu && ./gpu_check.sh
# Left out on purpose: glibc (libc, libm, libpthread, libdl, librt, ld-linux: the machine's own must
# be at least as new as this build's), libcuda (the driver's) and libnccl (gpu_check.sh points
# LD_LIBRARY_PATH at the libnccl.so found with `find / -name 'libnccl.so*'`; a copy of this machine's
# is kept in nccl/ as a fallback).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/dist/ringlab-gpu}
archs=${2:-90}
build=$here/build-gpu-package
jobs=${JOBS:-1}

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRINGLAB_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$archs" >/dev/null
targets=(ringlab bench_attention_cuda test_cuda)
available=()
for t in "${targets[@]}"; do
  if ninja -C "$build" -t targets all 2>/dev/null | grep -q "^$t:"; then
    available+=("$t")
  else
    echo "package_gpu: target '$t' is not defined (is its add_subdirectory in tests/ or bench/ CMakeLists.txt?); skipped" >&2
  fi
done
ninja -C "$build" -j"$jobs" "${available[@]}"

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/nccl" "$out/bench"
for t in "${available[@]}"; do
  f=$(find "$build" -type f -name "$t" -perm -u+x | head -n1)
  [ -n "$f" ] && cp "$f" "$out/bin/"
done
skip='^(libc|libm|libpthread|libdl|librt|ld-linux.*|libcuda|libnccl|linux-vdso)\.so'
for b in "$out"/bin/*; do
  ldd "$b" | awk '/=> \// {print $1, $3}' | while read -r name path; do
    if [[ "$name" =~ $skip ]]; then continue; fi
    cp -L -n "$path" "$out/lib/$name"
  done
done
for n in /usr/local/cuda/lib/libnccl.so* /usr/local/cuda/lib64/libnccl.so*; do
  [ -e "$n" ] && cp -L -n "$n" "$out/nccl/" || true
done
cp "$here/bench/gpu_check.sh" "$here/bench/sdpa_reference.py" "$out/"
cp -r "$here/configs" "$out/configs"
{
  echo "built $(date -u +%FT%TZ) on $(uname -n) for sm_${archs}"
  echo "nvcc: $(/usr/local/cuda/bin/nvcc --version | tail -n1)"
  echo "glibc: $(ldd --version | head -n1)"
  echo "commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$out/BUILD_INFO"
echo "package_gpu: $(du -sh "$out" | cut -f1) in $out"
ls "$out/bin" "$out/lib"
