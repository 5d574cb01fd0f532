# Every bundled experiment generates, validates and simulates; every bundled topology summarises.
source "$(dirname "$0")/lib.sh"
for f in configs/experiments/*.yaml; do
  expect 0 'variant ' -- schedule "$f"
  expect 0 '^ok: ' -- validate "$f"
  expect 0 'end-to-end time' -- simulate "$f"
  expect 0 '"schedule_hash": *"[0-9a-f]{16}"' -- simulate "$f" --format json
done
# The outputs beside the table: a timeline picture (a lane per GPU), a Chrome trace, phase CSV.
Q=configs/experiments/quickstart.yaml
expect 0 'end-to-end time' -- simulate $Q --svg "$TMP/q.svg" --trace "$TMP/q.json" --csv "$TMP/q.csv"
check "--svg: a lane per GPU of the quickstart's 8" test "$(grep -c '>GPU [0-7]</text>' "$TMP/q.svg")" = 8
check "--svg: the experiment in the title" grep -q '>quickstart: ring on 8 ranks, dgx-h100</text>' "$TMP/q.svg"
check "--trace: Chrome trace events" grep -q '"traceEvents"' "$TMP/q.json"
check "--csv: a row per rank and phase after the header" test "$(wc -l < "$TMP/q.csv")" -gt 64
expect 1 "cannot create temporary file" -- simulate $Q --svg "$TMP/absent/q.svg"
for f in configs/topologies/*.yaml; do
  expect 0 '^GPUs +[0-9]+ in [0-9]+ node' -- topology "$f"
done
finish
