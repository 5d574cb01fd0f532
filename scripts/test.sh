#!/usr/bin/env bash
# Second README command: install what is missing, build everything (tests included) and run every
# test through ctest. Extra arguments go to ctest (e.g. -L gpu, -R unit.ir).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_deps
build_dir=${RINGLAB_BUILD_DIR:-build/test}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${RINGLAB_BUILD_TYPE:-RelWithDebInfo} ${RINGLAB_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
