#!/usr/bin/env bash
# bench/ab.sh runs each binary once per round (tiny P: no timing is asserted), prints every binary's
# rounds, fastest and median, and refuses bad arguments with exit status 2.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bin=$1
ab=$(dirname "$0")/../../bench/ab.sh
out=$("$ab" -r 3 -p 8 "$bin" "$bin")
echo "$out"
[[ $(echo "$out" | head -1) == "P = 8, 3 rounds (order rotating), CPU seconds" ]] || { echo "FAIL: header" >&2; exit 1; }
(( $(echo "$out" | grep -c "^$bin\$") == 2 )) || { echo "FAIL: both binaries listed" >&2; exit 1; }
while read -r _ a b c extra; do
  [[ -n $c && -z ${extra:-} ]] || { echo "FAIL: three rounds per binary: $a $b $c $extra" >&2; exit 1; }
done < <(echo "$out" | grep "rounds:")
(( $(echo "$out" | grep -c "fastest .* median .* of the first)") == 2 )) || { echo "FAIL: summary lines" >&2; exit 1; }
# -a: the arguments reach every run (a bad one makes bench_sim print no row: refused) and the header.
out=$("$ab" -r 1 -p 8 -a --summary "$bin")
[[ $(echo "$out" | head -1) == "P = 8, 1 rounds (order rotating), CPU seconds, bench_sim --summary" ]] || { echo "FAIL: -a header: $out" >&2; exit 1; }
set +e
"$ab" -r 1 -p 8 -a --bogus "$bin" > /dev/null 2>&1
rc=$?
set -e
(( rc != 0 )) || { echo "FAIL: ab.sh -a --bogus succeeded" >&2; exit 1; }
refuses "$ab" "-r 0 $bin" "-p abc $bin" "-r" "" "/nonexistent/bench_sim"
echo "ok"
