#!/usr/bin/env bash
# Instructions per attention block of bench_sim builds, counted by valgrind (callgrind): the one speed
# figure a shared host's load cannot move (on 2026-12-08 the same binary's P = 4096 time moved from 16
# to 41 s within the hour, while its count moved by a few hundred of 333 million). Each BIN runs
# `BIN P --in-process` under callgrind; prints its total instructions, per attention block, and the
# ratio to the first BIN's.
# Time still decides (docs/simulator.md: fewer instructions have run slower); this says what a change
# did to the work, bench/ab.sh what it did to the time. valgrind cannot run code for CPUs it does not
# model (an -march=native build on an AVX-512 machine): build with RINGLAB_NATIVE=0 there.
# Usage: bench/instr.sh [-p P] BIN [BIN ...]   (default P = 256: a few seconds each under valgrind)
set -euo pipefail
p=256
usage() { echo "usage: $0 [-p P] BIN [BIN ...]" >&2; exit 2; }
while getopts "p:" o; do
  case $o in
    p) p=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
(($# >= 1)) || usage
[[ $p =~ ^[1-9][0-9]*$ ]] || usage
for b in "$@"; do [[ -x $b ]] || { echo "$0: not an executable: $b" >&2; exit 2; }; done
command -v valgrind > /dev/null || { echo "$0: valgrind not found (Debian: apt-get install valgrind)" >&2; exit 3; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "P = $p, instructions counted by valgrind --tool=callgrind (bench_sim P --in-process)"
first=""
for b in "$@"; do
  if ! out=$(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$b" "$p" --in-process 2> "$tmp/err"); then
    echo "$0: $b failed under valgrind:" >&2
    tail -5 "$tmp/err" >&2
    exit 1
  fi
  # The row of P: its attention blocks (3rd column).
  attends=$(echo "$out" | awk -v p="$p" '$1 == p && $2 ~ /^[0-9]+$/ { print $3 }')
  total=$(awk '$1 == "totals:" { print $2 }' "$tmp/cg.out")
  [[ $attends =~ ^[1-9][0-9]*$ && $total =~ ^[0-9]+$ ]] || { echo "$0: $b printed no row or no count for P = $p" >&2; exit 1; }
  [[ -n $first ]] || first=$total
  echo "$b"
  awk -v t="$total" -v a="$attends" -v f="$first" \
    'BEGIN { printf "  %d instructions, %.0f per attention block (%d blocks), %.3f of the first\n", t, t / a, a, t / f }'
done
