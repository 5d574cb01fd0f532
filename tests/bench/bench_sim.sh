#!/usr/bin/env bash
# bench_sim runs (a small P, so this is no timing) and prints a row whose prediction and counts are the
# simulator's; --repeat adds a summary; a bad argument is refused with exit status 2 and a message naming it.
set -euo pipefail
bin=$1
out=$("$bin" 8 --in-process)
echo "$out"
row=$(echo "$out" | awk '$1 == 8')
[[ -n $row ]] || { echo "FAIL: no row for P = 8" >&2; exit 1; }
# The causal ring at P ranks: P^2 attends, a send and a recv per rank and step but the last (2P(P-1)),
# a merge per attend that is neither the first nor masked out (P(P-1)/2). The masked-out attends
# (P(P-1)/2) take no time and complete without an event, so events = ops - P(P-1)/2.
read -r p ops attends _ <<< "$row"
events=$(echo "$row" | awk '{print $NF}')
P=8
(( attends == P * P )) || { echo "FAIL: attends $attends, expected $((P * P))" >&2; exit 1; }
(( ops == P * P + 2 * P * (P - 1) + P * (P - 1) / 2 )) || { echo "FAIL: ops $ops" >&2; exit 1; }
(( events == ops - P * (P - 1) / 2 )) || { echo "FAIL: events $events, ops $ops" >&2; exit 1; }
# --summary (the summary built as ops retire, as `ringlab simulate` does): the same simulation.
with=$("$bin" 8 --in-process --summary)
echo "$with" | head -1 | grep -q 'summary built as ops retire' || { echo "FAIL: --summary not in the header: $with" >&2; exit 1; }
wrow=$(echo "$with" | awk '$1 == 8')
[[ $(echo "$wrow" | awk '{print $2, $3, $(NF-1), $NF}') == $(echo "$row" | awk '{print $2, $3, $(NF-1), $NF}') ]] ||
  { echo "FAIL: --summary changed ops, attends, prediction or events: $wrow vs $row" >&2; exit 1; }
for bad in 0 abc 12x --bogus; do
  set +e
  err=$("$bin" "$bad" 2>&1 > /dev/null)
  rc=$?
  set -e
  (( rc == 2 )) || { echo "FAIL: bench_sim $bad exited $rc, expected 2" >&2; exit 1; }
  [[ $err == *"'$bad'"* ]] || { echo "FAIL: bench_sim $bad: message does not name it: $err" >&2; exit 1; }
done
# --repeat: each P run that many times (in child processes, their totals sent back through a pipe),
# then one line with the fastest, median and slowest total, in that order.
out=$("$bin" 8 --repeat 3)
(( $(echo "$out" | awk '$1 == 8 && $2 ~ /^[0-9]+$/' | wc -l) == 3 )) || { echo "FAIL: --repeat 3 did not print 3 rows: $out" >&2; exit 1; }
summary=$(echo "$out" | grep 'total_s over 3 runs') || { echo "FAIL: --repeat 3 printed no summary: $out" >&2; exit 1; }
read -r fastest median slowest < <(echo "$summary" | sed -E 's/.*fastest ([0-9.]+), median ([0-9.]+), slowest ([0-9.]+).*/\1 \2 \3/')
awk -v a="$fastest" -v b="$median" -v c="$slowest" 'BEGIN { exit !(a <= b && b <= c) }' ||
  { echo "FAIL: --repeat summary out of order: $summary" >&2; exit 1; }
for bad in "--repeat 0" "--repeat 101" "--repeat abc" "--repeat"; do
  set +e
  # shellcheck disable=SC2086
  err=$("$bin" 8 $bad 2>&1 > /dev/null)
  rc=$?
  set -e
  (( rc == 2 )) || { echo "FAIL: bench_sim 8 $bad exited $rc, expected 2" >&2; exit 1; }
  [[ $err == *"--repeat needs a number of runs from 1 to 100"* ]] || { echo "FAIL: bench_sim 8 $bad: $err" >&2; exit 1; }
done
echo "ok"
