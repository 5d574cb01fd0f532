#pragma once
// Shared fixtures of the simulator tests: hand-checkable platforms and workloads.
#include <cstdint>
#include <vector>

#include "ringlab/ir/generate.hpp"
#include "ringlab/sim/simulator.hpp"

namespace ringlab::sim::testing {

/// GPUs hung off one switch (an idealised NVSwitch): GPU i sends on link 2i and receives on link 2i+1,
/// each of bandwidth `bw` and zero latency; a route a -> b is [2a, 2b+1].
inline TablePlatform star(std::int32_t gpus, Bandwidth bw) {
  TablePlatform p(gpus);
  for (std::int32_t a = 0; a < gpus; ++a) {
    for (std::int32_t b = 0; b < gpus; ++b) {
      if (a == b) continue;
      topology::Route r;
      r.hops.push_back({static_cast<topology::LinkId>(2 * a), topology::LinkKind::NVLink, bw, Time{0}});
      r.hops.push_back({static_cast<topology::LinkId>(2 * b + 1), topology::LinkKind::NVLink, bw, Time{0}});
      p.set_route(a, b, r);
    }
  }
  return p;
}

/// Rank r on GPU r.
inline std::vector<std::int32_t> identity(std::int32_t n) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

/// MHA (H = G = 1), d = 128, bf16, batch 1, forward: a c x c block is 4*c^2*128 = 512 c^2 FLOPs and a
/// K,V block 2*c*128*2 = 512 c bytes. At 1 TFLOP/s and 1 GB/s: compute 512 c^2 ps, transfer 512000 c ps.
inline ir::Workload mha(std::int64_t seq_len, bool causal = false) {
  ir::Workload w;
  w.batch = 1;
  w.seq_len = seq_len;
  w.q_heads = 1;
  w.kv_heads = 1;
  w.head_dim = 128;
  w.dtype = ir::DType::bf16;
  w.causal = causal;
  return w;
}

/// The simple model at 1 TFLOP/s, merges and copies free, no latency, no interference.
inline SimpleCostModel::Params unit_params() {
  SimpleCostModel::Params p;
  p.flop_rate = FlopRate(1e12);
  return p;
}

inline ir::Schedule make(const ir::Workload& w, const std::string& variant, std::int32_t ranks) {
  ir::ScheduleSpec spec;
  spec.variant = variant;
  spec.ranks = ranks;
  return ir::generate(w, spec);
}

}  // namespace ringlab::sim::testing
