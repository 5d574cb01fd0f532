#include "ringlab/models/memory.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ringlab/core/error.hpp"

namespace ringlab::models {

Bytes op_workspace(const ir::OpKind& op, const ir::Workload& w) noexcept {
  const auto* g = std::get_if<ir::AttendGrad>(&op);
  if (g == nullptr || g->mask == ir::Mask::skip) return Bytes{0};
  const std::int64_t rows128 = (g->q.tokens + 127) / 128 * 128;
  return Bytes(4 * w.batch * g->heads * rows128 * (w.head_dim + 2));
}

Bytes kernel_workspace(const ir::RankProgram& rank, const ir::Workload& w) noexcept {
  Bytes most{0};
  for (const auto& op : rank.ops) most = std::max(most, op_workspace(op.kind, w));
  return most;
}

RankMemory rank_memory(const ir::Schedule& s, std::size_t r, const MemoryOptions& opt) {
  return rank_memory(s.workload, s.ranks.at(r), opt);
}

RankMemory rank_memory(const ir::Workload& w, const ir::RankProgram& rank, const MemoryOptions& opt) {
  RankMemory m;
  for (const auto& b : rank.buffers) m.buffers += b.bytes;
  m.workspace = kernel_workspace(rank, w);
  m.overhead = opt.framework_overhead;
  return m;
}

MemoryCheck check_memory(const ir::Schedule& s, const DeviceSpec& device, const MemoryOptions& opt) {
  MemoryCheck c;
  c.capacity = device.hbm_capacity;
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    c.ranks.push_back(rank_memory(s, r, opt));
    if (c.ranks.back().total() > c.peak) {
      c.peak = c.ranks.back().total();
      c.peak_rank = r;
    }
  }
  return c;
}

std::int64_t seq_len_step(const ir::Workload& w, const ir::ScheduleSpec& spec) {
  if (spec.ranks < 1) throw ValidationError(fmt::format("schedule.ranks must be >= 1, got {}", spec.ranks));
  ir::Workload probe = w;
  std::string first_message;
  for (const std::int64_t m : {1, 2, 4}) {
    probe.seq_len = m * spec.ranks;
    std::string field;
    auto message = ir::check_spec(probe, spec, field);
    if (message.empty()) return probe.seq_len;
    if (field != "workload.seq_len") throw ValidationError(fmt::format("{}: {}", field, message));
    if (first_message.empty()) first_message = message;
  }
  throw ValidationError(fmt::format("workload.seq_len: no multiple of P, 2P or 4P works: {}", first_message));
}

std::int64_t max_seq_len(const ir::Workload& w, const ir::ScheduleSpec& spec, const DeviceSpec& device,
                         const MemoryOptions& opt) {
  const std::int64_t step = seq_len_step(w, spec);
  const std::int64_t max_k = kMaxSearchSeqLen / step;
  ir::Workload probe = w;
  const auto fits = [&](std::int64_t k) {
    probe.seq_len = k * step;
    return check_memory(ir::generate(probe, spec), device, opt).fits();
  };
  if (max_k < 1 || !fits(1)) return 0;
  // Invariant: fits(lo), and hi is beyond max_k or does not fit (footprints grow with seq_len).
  std::int64_t lo = 1;
  std::int64_t hi = 2;
  while (hi <= max_k && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  hi = std::min(hi, max_k + 1);
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo * step;
}

}  // namespace ringlab::models
