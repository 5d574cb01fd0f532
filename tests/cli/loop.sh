# The predicted-vs-measured loop end to end at CI size (P = 2, 256 tokens): calibrate, simulate with the
# calibrated topology, run on the cpu backend, compare. Asserts exit codes and messages only, never
# how fast anything ran (the accuracy is in the README and bench/cpu_loop.sh).
source "$(dirname "$0")/lib.sh"
E=configs/experiments/cpu-loop.yaml
S=(--set workload.seq_len=256)

expect 0 "wrote .*cpu-topology\.yaml" -- calibrate --backend cpu --quick --head-dim 32 --block-len 64 --block-len 128 \
  --repetitions 1 --out "$TMP/cpu.yaml"
expect 0 "16 gpu" -- topology "$TMP/cpu-topology.yaml"
expect 0 "120 nvlink" -- topology configs/topologies/cpu-host.yaml
expect 2 "calibrate times the cpu backend only, got 'cuda'" -- calibrate --backend cuda --out "$TMP/x.yaml"
expect 2 "--out is required|required" -- calibrate --backend cpu

# The uncalibrated defaults work too.
expect 0 "valid ring schedule \(2 ranks" -- validate $E
expect 0 "ring on 2 ranks" -- schedule $E
expect 0 "end-to-end time" -- simulate $E "${S[@]}"

expect 0 "" -- simulate $E "${S[@]}" --set "topology=$TMP/cpu-topology.yaml" --trace "$TMP/sim.json"
expect 0 "" -- run $E --backend cpu --verify "${S[@]}" --trace "$TMP/run.json"
expect 0 "MAPE" -- compare "$TMP/sim.json" "$TMP/run.json"
expect 0 "\"mape_pct\"" -- compare "$TMP/sim.json" "$TMP/run.json" --format json

# The profile alone (device_profile) replaces the topology's device spec; a profile of another device is refused.
expect 0 "end-to-end time" -- simulate $E "${S[@]}" --set "device_profile=$TMP/cpu.yaml"
expect 2 "cpu\.yaml:[0-9]+:[0-9]+: field 'name': profile is for device 'cpu-host \(calibrated\)', not 'NVIDIA H100" \
  -- simulate configs/experiments/quickstart.yaml --set "device_profile=$TMP/cpu.yaml"

# A trace of another schedule (512 tokens) is refused; a missing file is bad input.
expect 0 "" -- run $E --backend cpu --set workload.seq_len=512 --trace "$TMP/other.json"
expect 2 "field 'schedule_hash'.*refusing to compare different schedules" -- compare "$TMP/sim.json" "$TMP/other.json"
expect 2 "absent\.json: cannot open file" -- compare "$TMP/sim.json" "$TMP/absent.json"
# A trace with a field twice (JSON readers keep one copy silently) is refused at the second copy.
sed '0,/"dur": /s//"dur": 1, "dur": /' "$TMP/run.json" > "$TMP/dup.json"
expect 2 "dup\.json:[0-9]+:[0-9]+: field 'traceEvents\[[0-9]+\]\.dur': key 'dur' appears twice" \
  -- compare "$TMP/sim.json" "$TMP/dup.json"
finish
