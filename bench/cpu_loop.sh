#!/usr/bin/env bash
# The predicted-vs-measured loop on the CPU backend at a few sizes: calibrate once, then for each size
# simulate with the calibrated profile, run, and compare (per-phase error, per-kind error, MAPE).
# Prints what it measured and on what machine; asserts nothing (a benchmark, not a test).
#
#   bench/cpu_loop.sh [RINGLAB] [--quick]       (RINGLAB: default build/release/apps/ringlab/ringlab)
#   SIZES="1024:2 2048:2 4096:4" REPS=5 bench/cpu_loop.sh build-rel/apps/ringlab/ringlab
set -euo pipefail
cd "$(dirname "$0")/.."
RINGLAB=${1:-build/release/apps/ringlab/ringlab}
QUICK=${2:-}
SIZES=${SIZES:-"1024:2 2048:2 4096:2 2048:4"}   # seq_len:ranks
REPS=${REPS:-5}
E=configs/experiments/cpu-loop.yaml
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

echo "== machine"
echo "nproc: $(nproc)"
lscpu | grep -E '^(Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|L3 cache)' || true
grep MemTotal /proc/meminfo || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "ringlab: $RINGLAB"

echo "== calibrate (median of $REPS)"
"$RINGLAB" calibrate --backend cpu $QUICK --repetitions "$REPS" --out "$OUT/cpu.yaml" 2>"$OUT/calibrate.log"

for size in $SIZES; do
  L=${size%%:*}
  P=${size##*:}
  S=(--set "workload.seq_len=$L" --set "schedule.ranks=$P")
  echo
  echo "== loop: causal ring, seq_len $L, P = $P, 4/2 heads, head_dim 32, fp32"
  "$RINGLAB" simulate "$E" "${S[@]}" --set "topology=$OUT/cpu-topology.yaml" --trace "$OUT/sim-$L-$P.json" >/dev/null
  "$RINGLAB" run "$E" --backend cpu "${S[@]}" --trace "$OUT/run-$L-$P.json" >/dev/null
  "$RINGLAB" compare "$OUT/sim-$L-$P.json" "$OUT/run-$L-$P.json"
done
echo
echo "files in $OUT"
