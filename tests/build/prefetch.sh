#!/usr/bin/env bash
# The simulator's prefetch stages are in the binary. GCC once deleted every one of them without a
# word (functions made only of prefetches looked pure to it, so their calls were dead code; see
# sim/include/ringlab/sim/prefetch.hpp), which cost ~20% at P = 4096; a build that loses them again
# fails here. Needs x86-64 and objdump (binutils, installed with g++); skipped (77) elsewhere.
set -euo pipefail
bin=$1
if [[ $(uname -m) != x86_64 ]] || ! command -v objdump > /dev/null; then
  echo "skipped: needs x86-64 and objdump"
  exit 77
fi
n=$(objdump -d -C --no-show-raw-insn "$bin" |
  awk '/^[0-9a-f]+ <.*>:$/ { in_sim = index($0, "ringlab::sim::Simulator") > 0 } in_sim && /:\tprefetch/ { n++ } END { print n + 0 }')
echo "prefetch instructions in ringlab::sim::Simulator code of $bin: $n"
if (( n < 4 )); then
  echo "FAIL: expected the simulator's prefetch stages (at least 4 prefetch instructions), found $n" >&2
  exit 1
fi
