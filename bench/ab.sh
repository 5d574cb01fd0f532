#!/usr/bin/env bash
# Interleaved A/B timing of bench_sim builds on a shared host: every round runs each binary once, the
# order rotating from round to round, so the host's slow and quiet minutes fall on all of them alike
# (single runs here move by 10-20% from one minute to the next; a change is kept only when these
# medians show it). Prints each binary's total_s per round, then its fastest and median, and each
# median's ratio to the first binary's.
# Usage: bench/ab.sh [-r ROUNDS] [-p P] [-c CPU] [-a ARGS] BIN [BIN ...]   (defaults: 4 rounds, P = 4096, CPU 1)
#   -a: more bench_sim arguments for every run, split at spaces (e.g. -a --summary: what the CLI adds)
# Copy a build's bench/bench_sim aside before rebuilding the other: each BIN is run as it is.
set -euo pipefail
rounds=4 p=4096 cpu=1 args=""
usage() { echo "usage: $0 [-r ROUNDS] [-p P] [-c CPU] [-a ARGS] BIN [BIN ...]" >&2; exit 2; }
while getopts "r:p:c:a:" o; do
  case $o in
    r) rounds=$OPTARG ;;
    p) p=$OPTARG ;;
    c) cpu=$OPTARG ;;
    a) args=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
(($# >= 1)) || usage
[[ $rounds =~ ^[1-9][0-9]*$ && $p =~ ^[1-9][0-9]*$ && $cpu =~ ^[0-9]+$ ]] || usage
bins=("$@")
for b in "${bins[@]}"; do [[ -x $b ]] || { echo "$0: not an executable: $b" >&2; exit 2; }; done
pin=()
command -v taskset > /dev/null && taskset -c "$cpu" true 2> /dev/null && pin=(taskset -c "$cpu")
n=${#bins[@]}
read -r -a extra <<< "$args"
declare -a times
for ((r = 0; r < rounds; r++)); do
  for ((j = 0; j < n; j++)); do
    i=$(((j + r) % n))
    # The row of P: its total_s column (8th).
    t=$("${pin[@]}" "${bins[i]}" "$p" "${extra[@]}" | awk -v p="$p" '$1 == p && $2 ~ /^[0-9]+$/ { print $8 }')
    [[ -n $t ]] || { echo "$0: ${bins[i]} printed no row for P = $p" >&2; exit 1; }
    times[i]="${times[i]:-} $t"
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
base=$(echo "${times[0]}" | median)
echo "P = $p, $rounds rounds (order rotating), CPU seconds${args:+, bench_sim $args}"
for ((i = 0; i < n; i++)); do
  med=$(echo "${times[i]}" | median)
  fast=$(echo "${times[i]}" | tr ' ' '\n' | grep . | sort -g | head -1)
  printf '%s\n  rounds:%s\n  fastest %s  median %s  (%.3f of the first)\n' "${bins[i]}" "${times[i]}" "$fast" "$med" \
    "$(awk -v a="$med" -v b="$base" 'BEGIN { print (b > 0) ? a / b : 1 }')"
done
