#!/usr/bin/env bash
# Release build of ringlab (LTO, and profile-guided optimisation with GCC) into build/release.
# Usage: scripts/build-release.sh [TARGET ...]   (default: ringlab; e.g. bench_sim for the benchmark)
#
# Profile-guided: the CLI is built instrumented, simulates the bundled experiments (and the 16-node
# one at 128 ranks with each schedule variant) to record where its time goes, then everything asked
# for is rebuilt with that profile. The simulator runs ~10% fewer instructions
# (docs/simulator.md, "Scale"). RINGLAB_PGO=0, or a compiler other than GCC, builds without it.
# Outputs are the same either way. The code is for this machine's CPU (-march=native: the binaries run
# where they are built); RINGLAB_NATIVE=0 builds for any x86-64 (or whatever the compiler targets).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${RINGLAB_RELEASE_DIR:-build/release}
targets=("${@:-ringlab}")
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DRINGLAB_TESTS=OFF -DRINGLAB_BENCH=ON
        -DRINGLAB_NATIVE="$([[ ${RINGLAB_NATIVE:-1} == 0 ]] && echo OFF || echo ON)")

if [[ ${RINGLAB_PGO:-1} == 0 ]] || ! "${CXX:-c++}" --version 2>/dev/null | grep -q "Free Software Foundation"; then
  cmake -S . -B "$dir" "${common[@]}" -DRINGLAB_PGO=
  cmake --build "$dir" --target "${targets[@]}"
  exit 0
fi

profiles=$PWD/$dir/pgo
rm -rf "$profiles"
cmake -S . -B "$dir" "${common[@]}" -DRINGLAB_PGO=generate -DRINGLAB_PGO_DIR="$profiles"
cmake --build "$dir" --target ringlab
echo "ringlab: training the profile-guided build on the bundled experiments" >&2
train=$(mktemp -d)
trap 'rm -rf "$train"' EXIT
bin=$dir/apps/ringlab/ringlab
for f in configs/experiments/*.yaml; do
  "$bin" simulate "$f" --format json > /dev/null
done
for variant in ring ring_serial allgather; do
  "$bin" simulate configs/experiments/ring-x16-ndr.yaml --set schedule.ranks=128 --set schedule.variant=$variant \
    --trace "$train/$variant.json" > /dev/null
done
cmake -S . -B "$dir" "${common[@]}" -DRINGLAB_PGO=use -DRINGLAB_PGO_DIR="$profiles"
# ringlab too, whatever was asked: the training left the instrumented one in $dir (slower, and it
# writes profile files wherever it runs). If this fails (a source edited while the profile trained no
# longer matches it: -Werror=coverage-mismatch), that instrumented one must not stay behind either.
if ! cmake --build "$dir" --target ringlab "${targets[@]}"; then
  rm -f "$bin"
  echo "ringlab: the profile-guided build failed (was a source edited while it trained? run this script again);" \
       "removed the instrumented $bin" >&2
  exit 1
fi
