#!/usr/bin/env bash
# `ringlab simulate` end to end at large P: the causal KV ring, 4K tokens per rank, on P/8 DGX H100 nodes
# (the bundled dgx-h100-x128-ndr fabric, scaled: 32 nodes per scalable unit, rail leaves, 16 spines).
# Everything the CLI does is in the figure: load, generate (streamed), simulate, the trace it records for
# the summary, the schedule hash, the JSON. Prints wall seconds and peak RSS; asserts nothing.
#
#   bench/cli_scale.sh [RINGLAB] [P ...]     (default: build/release/apps/ringlab/ringlab 1024 2048 4096)
set -euo pipefail
cd "$(dirname "$0")/.."
RINGLAB=${1:-build/release/apps/ringlab/ringlab}
shift || true
SIZES=${*:-1024 2048 4096}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TOPO=$PWD/configs/topologies/dgx-h100-x128-ndr.yaml

echo "host: $(nproc) cores, $(grep MemTotal /proc/meminfo | tr -s ' '), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%6s %12s %10s %12s %14s\n" ranks wall_s peak_GiB predicted_s schedule_hash
for P in $SIZES; do
  nodes=$(( (P + 7) / 8 ))
  sed -e "s|^copies: .*|copies: $nodes|" -e "s|^name: .*|name: dgx-h100-x$nodes-ndr|" \
      -e "s|^device: ../devices/|device: $PWD/configs/devices/|" "$TOPO" > "$OUT/topo.yaml"
  cat > "$OUT/exp.yaml" <<YAML
name: ring-$P
description: causal KV ring, $P ranks, 4K tokens each
topology: $OUT/topo.yaml
workload: {batch: 1, seq_len: $(( P * 4096 )), q_heads: 32, kv_heads: 8, head_dim: 128,
           dtype: bf16, causal: true, pass: forward}
schedule: {variant: ring, ranks: $P, options: {}}
placement: block
YAML
  start=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%M" -o "$OUT/rss" "$RINGLAB" simulate "$OUT/exp.yaml" --format json > "$OUT/out.json"
    rss=$(awk '{printf "%.2f", $1 / 1048576}' "$OUT/rss")
  else
    "$RINGLAB" simulate "$OUT/exp.yaml" --format json > "$OUT/out.json"
    rss="n/a"  # install the 'time' package for peak RSS
  fi
  end=$(date +%s.%N)
  total=$(sed -n 's/.*"total_time_s": \([0-9.e+-]*\).*/\1/p' "$OUT/out.json" | head -1)
  hash=$(sed -n 's/.*"schedule_hash": "\([0-9a-f]*\)".*/\1/p' "$OUT/out.json" | head -1)
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  printf "%6s %12s %10s %12s %14s\n" "$P" "$wall" "$rss" "$total" "$hash"
done
