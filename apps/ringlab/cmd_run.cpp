// ringlab run: execute an experiment's schedule on a real backend (CPU threads, or CUDA + NCCL where
// built), record every op's start and end, optionally verify the numerics against a float64 reference.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "format.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/ir/experiment.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/ir/validate.hpp"
#include "ringlab/runtime/cpu_backend.hpp"
#include "ringlab/runtime/numerics.hpp"
#ifdef RINGLAB_HAVE_CUDA
#include "ringlab/runtime/cuda/cuda_backend.hpp"
#endif
#include "ringlab/trace/chrome.hpp"
#include "ringlab/trace/csv.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::app {

namespace {

struct RunArgs {
  std::string experiment;
  std::string backend = "cpu";
  bool verify = false;
  std::string trace_path;
  std::string csv_path;
  std::string format = "table";
  std::vector<std::string> overrides;
  std::uint64_t seed = 1;
  double timeout_s = 60;
  double max_host_memory_gib = 4;
  std::string cuda_mode = "single_gpu";
  int device = 0;
};

/// The backend `a` asks for; the CUDA one only where this build has it.
std::unique_ptr<runtime::Backend> make_backend(const RunArgs& a, Bytes host_limit) {
  if (a.backend == "cpu") return std::make_unique<runtime::CpuBackend>(runtime::CpuBackendOptions{host_limit});
#ifdef RINGLAB_HAVE_CUDA
  runtime::cuda::CudaBackendOptions o;
  o.mode = a.cuda_mode == "mpi"          ? runtime::cuda::LaunchMode::mpi
           : a.cuda_mode == "local_gpus" ? runtime::cuda::LaunchMode::local_gpus
                                         : runtime::cuda::LaunchMode::single_gpu;
  o.device = a.device;
  o.nccl_timeout = seconds(a.timeout_s);
  return std::make_unique<runtime::cuda::CudaBackend>(o);
#else
  throw InputError(a.experiment, 0, 0, "--backend",
                   "backend 'cuda' is not available in this build (configure with -DRINGLAB_CUDA=ON; available: cpu)");
#endif
}

/// Host bytes the run needs beside the backend's buffers: seeded Q, K, V of the whole sequence
/// (float32) and, with --verify, the float64 reference output and LSE.
Bytes side_bytes(const ir::Workload& w, bool verify) {
  const std::int64_t tokens = w.batch * w.seq_len;
  std::int64_t b = tokens * (w.q_heads + 2 * w.kv_heads) * w.head_dim * 4;
  if (verify) b += tokens * w.q_heads * (w.head_dim + 1) * 8;
  return Bytes(b);
}

void print_table(const ir::Experiment& e, const ir::Schedule& s, const trace::Summary& sum,
                 const runtime::VerifyReport* rep, const RunArgs& a, double wall_s) {
  fmt::print("run         {} ({}) on the {} backend{}, seed {}\n", e.name, e.file, a.backend,
             a.backend == "cuda" ? fmt::format(" ({})", a.cuda_mode) : std::string(), a.seed);
  fmt::print("schedule    {} on {} rank{}, hash {}\n", s.variant, s.ranks.size(), s.ranks.size() == 1 ? "" : "s",
             sum.schedule_hash);
  fmt::print("measured    {} from first op to last ({:.3f} s wall including setup), {:.1f}% of communication hidden\n",
             human_time(seconds(sum.total_time_s)), wall_s, sum.overlap_pct);
  if (sum.peak_memory_bytes) {
    fmt::print("memory      {} per rank at the workload's dtype (busiest rank)\n",
               human_bytes(Bytes(*sum.peak_memory_bytes)));
  }
  fmt::print("\n{:>6} {:>12} {:>12} {:>12} {:>14}\n", "phase", "time", "compute", "comm", "exposed comm");
  for (const auto& p : sum.phases) {
    fmt::print("{:>6} {:>12} {:>12} {:>12} {:>14}\n", p.phase, human_time(seconds(p.time_s)),
               human_time(seconds(p.compute_s)), human_time(seconds(p.comm_s)), human_time(seconds(p.exposed_comm_s)));
  }
  if (rep != nullptr) fmt::print("\nverify      {}\n", rep->message);
}

void run(const RunArgs& a, int& exit_code) {
  const auto e = ir::load_experiment(a.experiment, a.overrides);
  if (!(a.timeout_s > 0)) throw InputError(a.experiment, 0, 0, "--timeout-s", "the timeout must be positive");
  if (!(a.max_host_memory_gib > 0)) {
    throw InputError(a.experiment, 0, 0, "--max-host-memory-gib", "the memory limit must be positive");
  }
  const auto s = ir::generate(e.workload, e.schedule);
  ir::validate(s);

  const Bytes limit(static_cast<std::int64_t>(a.max_host_memory_gib * static_cast<double>(std::int64_t{1} << 30)));
  // The host holds the seeded inputs (and the reference) on every backend, and the buffers on the cpu one.
  try {
    if (a.backend == "cpu") {
      runtime::CpuBackend::check_host_memory(s, side_bytes(s.workload, a.verify), limit);
    } else if (side_bytes(s.workload, a.verify) > limit) {
      throw Error(fmt::format("the host would need {} for the inputs{}, above --max-host-memory-gib {}",
                              human_bytes(side_bytes(s.workload, a.verify)), a.verify ? " and the reference" : "",
                              a.max_host_memory_gib));
    }
  } catch (const Error& err) {
    throw InputError(e.file, e.line_of("workload.seq_len"), 0, "workload.seq_len", err.what());
  }
  if (a.backend == "cpu" && static_cast<std::int64_t>(s.ranks.size()) > runtime::CpuBackend::kMaxRanks) {
    throw InputError(e.file, e.line_of("schedule.ranks"), 0, "schedule.ranks",
                     fmt::format("the cpu backend runs one thread per rank and supports at most {} ranks, got {}",
                                 runtime::CpuBackend::kMaxRanks, s.ranks.size()));
  }

  const auto t0 = std::chrono::steady_clock::now();
  const auto backend_ptr = make_backend(a, limit);
  auto& backend = *backend_ptr;
  backend.allocate(s);
  const auto inputs = runtime::make_inputs(s.workload, a.seed);
  runtime::load_inputs(s, inputs, backend);
  runtime::ExecuteOptions opt;
  opt.schedule_hash = ir::schedule_hash(s);
  opt.timeout = seconds(a.timeout_s);
  const auto tr = runtime::execute(s, backend, opt);

  std::unique_ptr<runtime::VerifyReport> rep;
  if (a.verify) {
    rep = std::make_unique<runtime::VerifyReport>(
        runtime::verify(s, backend, runtime::reference_attention(inputs)));
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  Bytes peak{0};
  for (std::size_t r = 0; r < s.ranks.size(); ++r) peak = std::max(peak, ir::rank_totals(s, r).memory);
  auto sum = trace::summarize(tr, s, trace::SummaryInputs{std::nullopt, peak});
  sum.extra.emplace_back("backend", trace::json_quote(a.backend));
  // `simulate` reports the memory model's figure under the same key; name what this one is.
  sum.extra.emplace_back("peak_memory_basis", trace::json_quote("the rank's schedule buffers, as the backend allocated them"));
  sum.extra.emplace_back("seed", fmt::format("{}", a.seed));
  if (rep) {
    sum.extra.emplace_back(
        "verify", fmt::format(R"({{"passed": {}, "max_rel_error": {}, "max_abs_error": {}, "max_lse_abs_error": {}}})",
                              rep->passed ? "true" : "false", trace::json_number(rep->max_rel_error),
                              trace::json_number(rep->max_abs_error), trace::json_number(rep->max_lse_abs_error)));
  }

  if (!a.trace_path.empty()) trace::write_chrome_trace(a.trace_path, tr);
  if (!a.csv_path.empty()) trace::write_phase_csv(a.csv_path, tr);
  if (a.format == "json") {
    fmt::print("{}\n", trace::to_json(sum));
  } else {
    print_table(e, s, sum, rep.get(), a, wall_s);
    if (!a.trace_path.empty()) fmt::print("wrote       {} (open in https://ui.perfetto.dev)\n", a.trace_path);
    if (!a.csv_path.empty()) fmt::print("wrote       {}\n", a.csv_path);
  }
  if (rep && !rep->passed) {
    fmt::print(stderr, "error: verification failed: {}\n", rep->message);
    exit_code = 1;
    return;
  }
  exit_code = 0;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Execute an experiment's schedule on a backend and measure every op");
  cmd->add_option("experiment", args->experiment, "Experiment YAML file")->required();
  cmd->add_option("--backend", args->backend, "Backend that executes the schedule")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_flag("--verify", args->verify, "Compare every rank's output with a float64 reference attention");
  cmd->add_option("--trace", args->trace_path, "Write the Chrome/Perfetto trace JSON to FILE");
  cmd->add_option("--csv", args->csv_path, "Write the per-phase CSV to FILE");
  cmd->add_option("--format", args->format, "Output: a table, or one JSON summary object")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_option("--set", args->overrides, "Override a scalar of the experiment: dotted.key=value (repeatable)");
  const CLI::Validator whole_number(
      [](std::string& v) -> std::string {
        return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos
                   ? std::string()
                   : fmt::format("expected a whole number >= 0, got '{}'", v);
      },
      "UINT", "whole number");
  cmd->add_option("--seed", args->seed, "Seed of the generated Q, K, V")
      ->check(whole_number)  // an unsigned option alone takes -1 as 2^64 - 1
      ->capture_default_str();
  cmd->add_option("--timeout-s", args->timeout_s, "Seconds a rank waits for a peer before failing")
      ->capture_default_str();
  cmd->add_option("--max-host-memory-gib", args->max_host_memory_gib,
                  "Refuse runs needing more host memory than this (GiB)")
      ->capture_default_str();
  auto* cuda_mode = cmd->add_option("--cuda-mode", args->cuda_mode,
                  "cuda backend: single_gpu (all ranks on one GPU), local_gpus (one process, a GPU per rank) or "
                  "mpi (one process per GPU under mpirun/srun)")
      ->check(CLI::IsMember({"single_gpu", "local_gpus", "mpi"}))
      ->capture_default_str();
  auto* device = cmd->add_option("--device", args->device, "cuda backend, single_gpu mode: the GPU carrying every rank")
                     ->check(whole_number)
                     ->capture_default_str();
  cmd->callback([args, cuda_mode, device, &exit_code] {
    // The cuda backend's options are not silently dropped on another backend.
    for (const CLI::Option* o : {cuda_mode, device}) {
      if (o->count() > 0 && args->backend != "cuda") {
        throw InputError(o->get_name(), 0, 0, "", fmt::format("applies to --backend cuda only (this run: --backend {})", args->backend));
      }
    }
    run(*args, exit_code);
  });
}

}  // namespace ringlab::app
