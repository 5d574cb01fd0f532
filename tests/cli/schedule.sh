# ringlab schedule / validate / version and their errors.
source "$(dirname "$0")/lib.sh"
Q=configs/experiments/quickstart.yaml

expect 0 '^ringlab [0-9]+\.[0-9]+\.[0-9]+ \(IR format 1\)$' -- version
expect 0 'variant +ring on 8 ranks' -- schedule $Q
# Causal ring at P=8: the last rank does 7 full blocks + 1 half: 15/16 of the 2*P/2... its share of the total is
# (P - 1/2) / (P^2 / 2) = 7.5 / 32 = 23.4%.
expect 0 'busiest rank 23\.4% of the total' -- schedule $Q
# Memory check and the largest sequence that fits (the models' closed form, tests/unit/models).
expect 0 'memory +rank 0 needs 2\.01 GiB .* of 80\.00 GiB on .*: fits' -- schedule $Q
expect 0 'max seq_len 20548832 tokens fit on .* with ring x 8' -- schedule $Q --max-seq-len
expect 0 'variant +allgather on 4 ranks' -- schedule $Q --set schedule.variant=allgather --set schedule.ranks=4
expect 0 'wrote .*q\.json' -- schedule $Q --set schedule.ranks=4 --dump "$TMP/q.json"
expect 0 '^ok: .*q\.json is a valid ring schedule \(4 ranks, ' -- validate "$TMP/q.json"
expect 0 '^wrote .*q\.yaml' -- schedule $Q --set schedule.ranks=2 --dump "$TMP/q.yaml"
expect 0 '^ok: .*q\.yaml is a valid ring schedule \(2 ranks, ' -- validate "$TMP/q.yaml"
expect 0 '^ok: .*quickstart\.yaml is a valid ring schedule \(8 ranks, 204 ops' -- validate $Q

# Bad input: exit 2 and a message naming file, line and field.
expect 2 "quickstart\.yaml:[0-9]+:[0-9]+: field 'workload.seq_len': seq_len \(262144\) must be a positive multiple of 3" \
  -- schedule $Q --set schedule.ranks=3
expect 2 "^error: --set: field 'workload.kv_heads': kv_heads \(5\) must divide q_heads \(32\)" \
  -- schedule $Q --set workload.kv_heads=5
expect 2 "^error: --set: field 'schedule.ranks': 0 is outside the allowed range" -- schedule $Q --set schedule.ranks=0
expect 2 "^error: --set: field 'workload.colour': no field 'workload.colour'|unknown key 'colour'" \
  -- schedule $Q --set workload.colour=red
expect 2 "^error: --set: field 'nope': expected dotted.key=value" -- schedule $Q --set nope
expect 2 "^error: /nonexistent.yaml: cannot open file" -- schedule /nonexistent.yaml
expect 2 "The following argument was not expected|required" -- schedule

sed 's/kind: send/kind: teleport/' "$TMP/q.yaml" >"$TMP/bad.yaml"
expect 2 "bad\.yaml:[0-9]+:[0-9]+: field 'ranks\[0\]\.ops\[0\]\.kind': 'teleport' is not one of" -- validate "$TMP/bad.yaml"
# A structurally fine file whose transfer lost its partner: the validator names rank, op and reason.
sed '0,/tag: 0}/s//tag: 9}/' "$TMP/q.yaml" >"$TMP/unmatched.yaml"
expect 2 "rank 1 op 1 \(recv from rank 0 tag 0\): no matching send on rank 0" -- validate "$TMP/unmatched.yaml"
printf 'format_version: 1\nvariant: [oops\n' >"$TMP/syntax.yaml"
expect 2 "syntax\.yaml:[0-9]+:[0-9]+: syntax error" -- validate "$TMP/syntax.yaml"
finish
