# Every bundled experiment generates, validates and simulates; every bundled topology summarises.
source "$(dirname "$0")/lib.sh"
for f in configs/experiments/*.yaml; do
  expect 0 'variant ' -- schedule "$f"
  expect 0 '^ok: ' -- validate "$f"
  expect 0 'end-to-end time' -- simulate "$f"
  expect 0 '"schedule_hash": *"[0-9a-f]{16}"' -- simulate "$f" --format json
done
for f in configs/topologies/*.yaml; do
  expect 0 '^GPUs +[0-9]+ in [0-9]+ node' -- topology "$f"
done
finish
