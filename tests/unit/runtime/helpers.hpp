#pragma once
// Shared helpers of the runtime tests: generate, run on the CPU backend, verify.
#include <string>

#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/validate.hpp"
#include "ringlab/runtime/cpu_backend.hpp"
#include "ringlab/runtime/numerics.hpp"

namespace ringlab::runtime::test {

inline ir::Workload small_workload(std::int64_t seq, std::int64_t q_heads, std::int64_t kv_heads, bool causal,
                                   std::int64_t batch = 1, std::int64_t window = 0) {
  ir::Workload w;
  w.batch = batch;
  w.seq_len = seq;
  w.q_heads = q_heads;
  w.kv_heads = kv_heads;
  w.head_dim = 16;
  w.dtype = ir::DType::bf16;
  w.causal = causal;
  w.window = window;
  return w;
}

inline ir::Schedule make_schedule(const ir::Workload& w, const std::string& variant, std::int32_t ranks) {
  ir::ScheduleSpec spec;
  spec.variant = variant;
  spec.ranks = ranks;
  return ir::generate(w, spec);
}

struct RunResult {
  VerifyReport report;
  trace::Trace trace;
};

/// Allocates, loads seeded inputs, executes and verifies `s` on `backend`.
inline RunResult run_verified(const ir::Schedule& s, CpuBackend& backend, std::uint64_t seed = 1,
                              Time timeout = seconds(20)) {
  backend.allocate(s);
  const auto inputs = make_inputs(s.workload, seed);
  load_inputs(s, inputs, backend);
  ExecuteOptions opt;
  opt.timeout = timeout;
  RunResult r;
  r.trace = execute(s, backend, opt);
  r.report = verify(s, backend, reference_attention(inputs));
  return r;
}

}  // namespace ringlab::runtime::test
