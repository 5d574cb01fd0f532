// Memory model: footprints of generated schedules (byte counts derived from the buffer formulas of
// ir::generate, see docs/models.md) and the max_seq_len search.
#include <doctest/doctest.h>

#include "helpers.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/models/memory.hpp"

using namespace ringlab;
using namespace ringlab::models;
using namespace ringlab::models::test;

namespace {
constexpr std::int64_t kGiB = 1LL << 30;
constexpr std::int64_t kMiB = 1LL << 20;

// Llama-3-8B-like attention: 32 query heads, 8 KV heads (GQA), d = 128, bf16, batch 1.
ir::Workload gqa(std::int64_t seq_len) {
  ir::Workload w;
  w.seq_len = seq_len;
  w.q_heads = 32;
  w.kv_heads = 8;
  w.head_dim = 128;
  w.causal = true;
  return w;
}
DeviceSpec with_capacity(DeviceSpec d, std::int64_t gib) {
  d.hbm_capacity = Bytes(gib * kGiB);
  return d;
}
}  // namespace

TEST_CASE("memory: ring vs allgather at P = 8, L = 64K") {
  // c = 8192 tokens per rank. Per token: q/out/partial_out 32 x 128 x 2 = 8192 B; K+V 2 x 8 x 128 x 2 =
  // 4096 B; lse/partial_lse 32 x 4 = 128 B.
  //   q 64 MiB, kv0 32 MiB, kv1 32 MiB, out 64 MiB, lse 1 MiB, partial_out 64 MiB, partial_lse 1 MiB
  const auto ring = ir::generate(gqa(65536), ir::ScheduleSpec{"ring", 8, {}});
  const auto ag = ir::generate(gqa(65536), ir::ScheduleSpec{"allgather", 8, {}});
  for (std::size_t r = 0; r < 8; ++r) {
    const auto m = rank_memory(ring, r);
    CHECK(m.buffers.value == 258 * kMiB);  // 270,532,608 B = 8192 tokens x 33,024 B
    CHECK(m.workspace.value == 0);         // forward: FA2 allocates nothing beyond out and lse
    CHECK(m.overhead.value == kGiB);
    CHECK(m.total().value == 258 * kMiB + kGiB);
  }
  // All-gather holds every rank's K,V: q 64, kv 32, kv_all 65536 x 4096 B = 256, out 64, lse 1 MiB.
  for (std::size_t r = 0; r < 8; ++r) CHECK(rank_memory(ag, r).buffers.value == 417 * kMiB);  // 437,256,192 B
  const auto dev = load_device(device_file("h100-sxm"));
  const auto check = check_memory(ag, dev);
  CHECK(check.fits());
  CHECK(check.capacity.value == 80 * kGiB);
  CHECK(check.peak.value == 417 * kMiB + kGiB);
  // A 1 GiB device: the overhead alone fills it.
  CHECK_FALSE(check_memory(ring, with_capacity(dev, 1)).fits());
  MemoryOptions none;
  none.framework_overhead = Bytes(0);
  CHECK(check_memory(ring, with_capacity(dev, 1), none).fits());
}

TEST_CASE("memory: FA2 backward workspace") {
  ir::Workload w = gqa(8192);
  w.batch = 2;
  ir::AttendGrad g;
  g.q.tokens = 1000;  // rounded up to 1024 rows
  g.heads = 16;
  g.mask = ir::Mask::full;
  // 4 B x batch 2 x 16 heads x 1024 rows x (128 + 2) = 17,039,360 B
  CHECK(op_workspace(g, w).value == 17039360);
  g.mask = ir::Mask::skip;
  CHECK(op_workspace(g, w).value == 0);
  CHECK(op_workspace(ir::Merge{}, w).value == 0);
}

TEST_CASE("memory: max_seq_len finds the largest multiple of P that fits") {
  const auto h100 = load_device(device_file("h100-sxm"));
  const ir::ScheduleSpec ring{"ring", 8, {}};
  CHECK(seq_len_step(gqa(0), ring) == 8);
  const auto best = max_seq_len(gqa(0), ring, h100);
  // Closed form for ring: 1 GiB + c x 33,024 B <= 80 GiB -> c <= 79 x 2^30 / 33,024 = 2,568,604.5
  // -> c = 2,568,604, L = 8c = 20,548,832 tokens (20.5M).
  CHECK(best == 20548832);
  CHECK(check_memory(ir::generate(gqa(best), ring), h100).fits());
  CHECK_FALSE(check_memory(ir::generate(gqa(best + 8), ring), h100).fits());
  // All-gather: 1 GiB + c x 20,608 + L x 4,096 B, i.e. c x 53,376 B per rank -> c = 1,589,208, L = 12,713,664.
  const ir::ScheduleSpec ag{"allgather", 8, {}};
  const auto best_ag = max_seq_len(gqa(0), ag, h100);
  CHECK(best_ag == 12713664);
  CHECK(check_memory(ir::generate(gqa(best_ag), ag), h100).fits());
  CHECK_FALSE(check_memory(ir::generate(gqa(best_ag + 8), ag), h100).fits());
}

TEST_CASE("memory: max_seq_len grows with capacity and is 0 when nothing fits") {
  const auto h100 = load_device(device_file("h100-sxm"));
  const ir::ScheduleSpec ring{"ring", 4, {}};
  std::int64_t previous = 0;
  for (const std::int64_t gib : {2, 8, 40, 80, 141, 192}) {
    CAPTURE(gib);
    const auto best = max_seq_len(gqa(0), ring, with_capacity(h100, gib));
    CHECK(best > previous);
    CHECK(best % 4 == 0);
    previous = best;
  }
  CHECK(max_seq_len(gqa(0), ring, with_capacity(h100, 1)) == 0);  // the 1 GiB overhead leaves nothing
  CHECK_THROWS_AS((void)seq_len_step(gqa(0), ir::ScheduleSpec{"ring", 0, {}}), ValidationError);
  auto bad = gqa(0);
  bad.kv_heads = 5;  // does not divide 32
  CHECK_THROWS_WITH_AS((void)max_seq_len(bad, ring, h100),
                       "workload.kv_heads: kv_heads (5) must divide q_heads (32) for GQA", ValidationError);
}
