#!/usr/bin/env bash
# bench/instr.sh counts a bench_sim build's instructions under valgrind (tiny P), prints the total, the
# count per attention block and the ratio to the first binary, and refuses bad arguments with exit
# status 2. Skipped (77) where valgrind is not installed.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bin=$1
instr=$(dirname "$0")/../../bench/instr.sh
command -v valgrind > /dev/null || { echo "valgrind not installed: skipped"; exit 77; }
out=$("$instr" -p 8 "$bin" "$bin")
echo "$out"
[[ $(echo "$out" | head -1) == "P = 8, instructions counted by valgrind --tool=callgrind (bench_sim P --in-process)" ]] ||
  { echo "FAIL: header" >&2; exit 1; }
(( $(echo "$out" | grep -c "^$bin\$") == 2 )) || { echo "FAIL: both binaries listed" >&2; exit 1; }
# P = 8: 64 attention blocks; the count is positive and per block is total / 64.
while read -r total _ per _ _ _ blocks _; do
  (( total > 0 )) || { echo "FAIL: no instructions counted" >&2; exit 1; }
  [[ $blocks == "(64" ]] || { echo "FAIL: 64 blocks expected: $blocks" >&2; exit 1; }
  (( per == (total + 32) / 64 || per == total / 64 )) || { echo "FAIL: $per per block of $total" >&2; exit 1; }
done < <(echo "$out" | grep "instructions, ")
# The same binary twice: a ratio of 1 to within the few hundred instructions its environment moves.
[[ $(echo "$out" | tail -1) =~ (0\.99[89]|1\.00[012]) ]] || { echo "FAIL: ratio of a binary to itself" >&2; exit 1; }
refuses "$instr" "-p 0 $bin" "-p abc $bin" "-p" "" "/nonexistent/bench_sim"
echo "ok"
