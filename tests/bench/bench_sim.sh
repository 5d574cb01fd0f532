#!/usr/bin/env bash
# bench_sim runs (a small P, so this is no timing) and prints a row whose prediction and counts are the
# simulator's; a bad argument is refused with exit status 2 and a message naming it.
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
for bad in 0 abc 12x --bogus; do
  set +e
  err=$("$bin" "$bad" 2>&1 > /dev/null)
  rc=$?
  set -e
  (( rc == 2 )) || { echo "FAIL: bench_sim $bad exited $rc, expected 2" >&2; exit 1; }
  [[ $err == *"'$bad'"* ]] || { echo "FAIL: bench_sim $bad: message does not name it: $err" >&2; exit 1; }
done
echo "ok"
