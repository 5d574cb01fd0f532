# ringlab run on the cpu backend: verified numerics, outputs, and refusals with file, line and field.
source "$(dirname "$0")/lib.sh"
Q=configs/experiments/quickstart.yaml
SMALL=(--set workload.seq_len=256 --set workload.q_heads=4 --set workload.kv_heads=2 --set workload.head_dim=16)
for v in ring ring_serial allgather; do
  expect 0 "verify +ok: max relative error" -- run $Q --backend cpu --verify "${SMALL[@]}" --set schedule.variant=$v
done
expect 0 '"verify": \{"passed": true' -- run $Q --backend cpu --verify "${SMALL[@]}" --format json --trace "$TMP/t.json" \
  --csv "$TMP/t.csv"
check "run wrote a trace and a csv" test -s "$TMP/t.json" -a -s "$TMP/t.csv"
# Its peak memory is the buffers it allocated (simulate's is the model's; each JSON names its basis).
expect 0 '"peak_memory_bytes": [0-9]+.*"peak_memory_basis": "the rank.s schedule buffers, as the backend allocated them"' \
  -- run $Q --backend cpu "${SMALL[@]}" --format json
expect 2 "quickstart\.yaml:6: field 'workload\.seq_len': the cpu backend would need 22\.06 GiB" -- run $Q --backend cpu
expect 2 "quickstart\.yaml:8: field 'schedule\.ranks': the cpu backend runs one thread per rank and supports at most 64" \
  -- run $Q --backend cpu --set schedule.ranks=128 --set workload.seq_len=1024
expect 2 "field '--timeout-s': the timeout must be positive" -- run $Q --backend cpu "${SMALL[@]}" --timeout-s 0
expect 2 "backend: .*not in|--backend" -- run $Q --backend tpu
expect 2 "--seed: expected a whole number >= 0, got '-1'" -- run $Q --backend cpu "${SMALL[@]}" --seed -1
expect 2 "--cuda-mode: applies to --backend cuda only \(this run: --backend cpu\)" -- run $Q --backend cpu "${SMALL[@]}" \
  --cuda-mode mpi
expect 2 "--device: applies to --backend cuda only" -- run $Q "${SMALL[@]}" --device 1
expect 2 "--device: expected a whole number >= 0, got '-2'" -- run $Q --backend cuda "${SMALL[@]}" --device -2
finish
