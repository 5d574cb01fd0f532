#!/usr/bin/env bash
# One-shot GPU check, run on a machine with a GPU (no Debian libraries needed): from the folder
# bench/package_gpu.sh made, or from a source tree with a build (BUILD=path/to/build).
#   ./gpu_check.sh            (env: OUT=results dir, SEQ_LEN=global tokens of the ring runs)
# Runs: the `gpu` tests, the kernel benchmark, PyTorch SDPA (flash, cuDNN) on the same shapes, and
# predicted-vs-measured for ring / ring_serial / allgather at P = 2, 4, 8 on one GPU carrying all
# ranks; ends with a short table. Prints what it measured; asserts nothing beyond the tests.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/gpu_check_results}
mkdir -p "$out"

find_bin() {  # packaged bin/, else a build tree
  [ -x "$here/bin/$1" ] && { echo "$here/bin/$1"; return; }
  find "${BUILD:-$here/..}" -type f -name "$1" -perm -u+x 2>/dev/null | head -n1
}
nccl=$(find / -name 'libnccl.so*' -not -path '*/proc/*' 2>/dev/null | grep -v "^$here/nccl/" | head -n1)
nccl_dir=${nccl:+$(dirname "$nccl")}
[ -z "$nccl_dir" ] && [ -d "$here/nccl" ] && nccl_dir=$here/nccl && echo "gpu_check: no libnccl on this machine; using the packaged copy"
export LD_LIBRARY_PATH="$here/lib${nccl_dir:+:$nccl_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "== machine"; nvidia-smi -L 2>&1 | tee "$out/gpus.txt"; echo "libnccl: ${nccl:-packaged copy}"

tests=$(find_bin test_cuda); bench=$(find_bin bench_attention_cuda); cli=$(find_bin ringlab)
declare -A status

echo "== gpu tests"
if [ -n "$tests" ]; then
  if "$tests" 2>&1 | tee "$out/tests.txt" | grep -E "MESSAGE|seed|\[doctest\]|ERROR|FAILED" | tail -n 40; then :; fi
  grep -q "Status: SUCCESS" "$out/tests.txt" && status[tests]=PASS || status[tests]=FAIL
  grep -q "skipped: no CUDA" "$out/tests.txt" && status[tests]="SKIPPED (no GPU seen)"
else status[tests]="not built"; fi

echo "== kernel benchmark"
if [ -n "$bench" ]; then "$bench" 2>&1 | tee "$out/bench.txt"; else echo "bench_attention_cuda not built" | tee "$out/bench.txt"; fi
echo "== pytorch sdpa"
python3 "$here/sdpa_reference.py" 2>&1 | tee "$out/sdpa.txt" || echo "sdpa_reference failed" | tee -a "$out/sdpa.txt"

# Timing only: the float64 host reference would take hours at this length; numerics are verified by
# the gpu tests above (every variant, P = 2, 4, 8) and by `ringlab run --verify` at small sizes.
echo "== predicted vs measured (single GPU carrying every rank)"
exp=$here/configs/experiments/single-gpu.yaml
[ -f "$exp" ] || exp=$here/../configs/experiments/single-gpu.yaml
seq=${SEQ_LEN:-65536}
: >"$out/compare.txt"
if [ -n "$cli" ] && "$cli" run --help 2>&1 | grep -q cuda; then
  for v in ring ring_serial allgather; do for p in 2 4 8; do
    tag="$v-p$p"; sets=(--set schedule.variant=$v --set schedule.ranks=$p --set workload.seq_len=$seq)
    if "$cli" simulate "$exp" "${sets[@]}" --format json >"$out/$tag.predicted.json" 2>"$out/$tag.err" &&
       "$cli" run "$exp" --backend cuda --cuda-mode single_gpu "${sets[@]}" --format json >"$out/$tag.measured.json" 2>>"$out/$tag.err"; then
      status[$tag]=$("$cli" compare "$out/$tag.predicted.json" "$out/$tag.measured.json" 2>&1 | tee -a "$out/compare.txt" | tail -n1)
    else status[$tag]="failed: $(tail -n1 "$out/$tag.err")"; fi
  done; done
else echo "ringlab run --backend cuda is not available in this build; skipped" | tee "$out/compare.txt"; fi

echo; echo "================ summary ($(head -n1 "$out/gpus.txt"))"
printf "%-28s %s\n" "gpu tests" "${status[tests]}"
printf "%-8s %-7s %-10s %-10s %-10s %s\n" seq causal ringlab flash cudnn "ringlab/best (target >= 0.60)"
awk -F, '$1=="csv"{k=$7" "$8; if($2=="ringlab")r[k]=$11; else if($2=="flash")f[k]=$11; else if($2=="cudnn")c[k]=$11; keys[k]=1}
  END{for(k in keys){split(k,a," "); b=f[k]>c[k]?f[k]:c[k]; printf "%-8s %-7s %-10s %-10s %-10s %s\n", a[1], (a[2]?"yes":"no"),
      (k in r)?r[k]:"-", (k in f)?f[k]:"-", (k in c)?c[k]:"-", (b>0 && (k in r))?sprintf("%.2f", r[k]/b):"-"}}' \
  "$out/bench.txt" "$out/sdpa.txt" | sort -n
for v in ring ring_serial allgather; do for p in 2 4 8; do
  [ -n "${status[$v-p$p]:-}" ] && printf "%-28s %s\n" "compare $v P=$p" "${status[$v-p$p]}"
done; done
echo "(full logs in $out)"
[ "${status[tests]}" != FAIL ]
