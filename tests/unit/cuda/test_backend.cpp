// Every generated variant run end to end on the CUDA backend and checked against the float64
// reference; timeouts and clear errors instead of hangs.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "gpu_helpers.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/validate.hpp"
#include "ringlab/runtime/cuda/cuda_backend.hpp"

using namespace ringlab;
using runtime::cuda::CudaBackend;
using runtime::cuda::CudaBackendOptions;
using runtime::cuda::LaunchMode;

namespace {

const char* dtype_name(ir::DType t) { return t == ir::DType::bf16 ? "bf16" : t == ir::DType::fp16 ? "fp16" : "fp32"; }

ir::Workload workload(std::int64_t P, ir::DType dtype, bool causal, std::int64_t d) {
  ir::Workload w;
  w.batch = 2;
  w.seq_len = P * 96;  // 96 tokens per rank: not a multiple of the 128-row tile
  w.q_heads = 4;
  w.kv_heads = 2;
  w.head_dim = d;
  w.dtype = dtype;
  w.causal = causal;
  return w;
}

/// Generates, runs on `options` and checks one schedule; returns the trace.
trace::Trace run_and_check(const std::string& variant, std::int64_t P, const ir::Workload& w,
                           const CudaBackendOptions& options) {
  const auto s = ir::generate(w, ir::ScheduleSpec{variant, static_cast<std::int32_t>(P), {}});
  ir::validate(s);
  const auto seed = test::fresh_seed(fmt::format("{} P={} {} causal={} d={} mode={}", variant, P, dtype_name(w.dtype),
                                                 w.causal, w.head_dim, runtime::cuda::launch_mode_name(options.mode))
                                         .c_str());
  auto inputs = runtime::make_inputs(w, seed);
  test::round_all(w.dtype, inputs.q);
  test::round_all(w.dtype, inputs.k);
  test::round_all(w.dtype, inputs.v);
  const auto ref = runtime::reference_attention(inputs);
  CudaBackend backend(options);
  backend.allocate(s);
  test::poison_outputs(s, backend);
  test::load_token_major(s, inputs, backend);
  runtime::ExecuteOptions opt;
  opt.timeout = seconds(60);
  auto tr = runtime::execute(s, backend, opt);
  const auto c = test::check_token_major(s, backend, ref);
  const double tol = test::tolerance(w.dtype, static_cast<int>(P));
  INFO(fmt::format("{} P={} {} causal={}: rel err {:.3e} (tol {:.1e}), lse err {:.3e}; worst {}", variant, P,
                   dtype_name(w.dtype), w.causal, c.rel, tol, c.lse_abs, c.worst));
  CHECK(c.rel < tol);
  CHECK(c.lse_abs < 8 * tol);
  // One record per op, each ending after it starts, on one clock starting near 0.
  std::size_t ops = 0;
  for (const auto& p : s.ranks) ops += p.ops.size();
  CHECK(tr.records.size() == ops);
  for (const auto& r : tr.records) {
    CHECK(r.end >= r.start);
    CHECK(r.start.value >= 0);
  }
  CHECK(tr.source == "cuda");
  return tr;
}

}  // namespace

TEST_CASE("every variant runs end to end on one GPU carrying P ranks and matches the reference") {
  if (test::skip_without_gpu()) return;
  CudaBackendOptions o;
  o.mode = LaunchMode::single_gpu;
  for (const auto& variant : ir::variant_names()) {
    for (const std::int64_t P : {2, 4, 8}) {
      for (const bool causal : {false, true}) {
        (void)run_and_check(variant, P, workload(P, ir::DType::bf16, causal, 128), o);
      }
    }
  }
}

TEST_CASE("fp16, fp32 and head dim 64 end to end, and the SIMT path everywhere") {
  if (test::skip_without_gpu()) return;
  CudaBackendOptions o;
  o.mode = LaunchMode::single_gpu;
  (void)run_and_check("ring", 4, workload(4, ir::DType::fp16, true, 64), o);
  (void)run_and_check("ring", 4, workload(4, ir::DType::fp32, true, 128), o);
  (void)run_and_check("allgather", 4, workload(4, ir::DType::fp32, false, 64), o);
  o.force_simt = true;
  (void)run_and_check("ring_serial", 4, workload(4, ir::DType::bf16, true, 128), o);
}

TEST_CASE("local_gpus mode (NCCL, one rank per GPU) where two GPUs exist") {
  if (test::skip_without_gpu()) return;
  const int n = runtime::cuda::visible_devices();
  if (n < 2) {
    MESSAGE("skipped: local_gpus needs 2 GPUs, " << n << " visible");
    return;
  }
  CudaBackendOptions o;
  o.mode = LaunchMode::local_gpus;
  for (const auto& variant : ir::variant_names()) {
    for (const bool causal : {false, true}) (void)run_and_check(variant, 2, workload(2, ir::DType::bf16, causal, 128), o);
  }
  if (n >= 4) (void)run_and_check("ring", 4, workload(4, ir::DType::bf16, true, 128), o);
}

TEST_CASE("a peer that never arrives times out instead of hanging") {
  if (test::skip_without_gpu()) return;
  auto s = ir::generate(workload(2, ir::DType::bf16, false, 64), ir::ScheduleSpec{"ring", 2, {}});
  // Retag rank 0's first send: rank 1's recv never finds it, and it never finds a recv.
  for (auto& op : s.ranks[0].ops)
    if (auto* send = std::get_if<ir::Send>(&op.kind)) {
      send->tag = 999;
      break;
    }
  CudaBackend backend;
  backend.allocate(s);
  runtime::ExecuteOptions opt;
  opt.timeout = seconds(1);
  opt.schedule_hash = "0000000000000000";
  CHECK_THROWS_AS((void)runtime::execute(s, backend, opt), runtime::RunTimeout);
}

TEST_CASE("bad requests fail with clear errors") {
  if (test::skip_without_gpu()) return;
  CudaBackendOptions o;
  o.mode = LaunchMode::local_gpus;
  o.devices = {0, 0};
  CudaBackend two_on_one(o);
  const auto s = ir::generate(workload(2, ir::DType::bf16, false, 64), ir::ScheduleSpec{"ring", 2, {}});
  CHECK_THROWS_WITH_AS(two_on_one.allocate(s), doctest::Contains("NCCL refuses"), Error);
  if (!runtime::cuda::mpi_compiled_in()) {
    CudaBackendOptions m;
    m.mode = LaunchMode::mpi;
    CHECK_THROWS_WITH_AS(CudaBackend{m}, doctest::Contains("compiled out"), Error);
  }
}
