// ringlab run: execute an experiment's schedule on a real backend (the CPU backend for now), record
// every op's start and end, optionally verify the numerics against a float64 reference.
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
};

/// Host bytes the run needs beside the backend's buffers: seeded Q, K, V of the whole sequence
/// (float32) and, with --verify, the float64 reference output and LSE.
Bytes side_bytes(const ir::Workload& w, bool verify) {
  const std::int64_t tokens = w.batch * w.seq_len;
  std::int64_t b = tokens * (w.q_heads + 2 * w.kv_heads) * w.head_dim * 4;
  if (verify) b += tokens * w.q_heads * (w.head_dim + 1) * 8;
  return Bytes(b);
}

void print_table(const ir::Experiment& e, const ir::Schedule& s, const trace::Summary& sum,
                 const runtime::VerifyReport* rep, std::uint64_t seed, double wall_s) {
  fmt::print("run         {} ({}) on the cpu backend, seed {}\n", e.name, e.file, seed);
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
  if (a.backend != "cpu") {
    throw InputError(a.experiment, 0, 0, "--backend",
                     fmt::format("backend '{}' is not available in this build (available: cpu)", a.backend));
  }
  if (!(a.timeout_s > 0)) throw InputError(a.experiment, 0, 0, "--timeout-s", "the timeout must be positive");
  if (!(a.max_host_memory_gib > 0)) {
    throw InputError(a.experiment, 0, 0, "--max-host-memory-gib", "the memory limit must be positive");
  }
  const auto s = ir::generate(e.workload, e.schedule);
  ir::validate(s);

  const Bytes limit(static_cast<std::int64_t>(a.max_host_memory_gib * static_cast<double>(std::int64_t{1} << 30)));
  try {
    runtime::CpuBackend::check_host_memory(s, side_bytes(s.workload, a.verify), limit);
  } catch (const Error& err) {
    throw InputError(e.file, 0, 0, "workload.seq_len", err.what());
  }
  if (static_cast<std::int64_t>(s.ranks.size()) > runtime::CpuBackend::kMaxRanks) {
    throw InputError(e.file, 0, 0, "schedule.ranks",
                     fmt::format("the cpu backend runs one thread per rank and supports at most {} ranks, got {}",
                                 runtime::CpuBackend::kMaxRanks, s.ranks.size()));
  }

  const auto t0 = std::chrono::steady_clock::now();
  runtime::CpuBackend backend(runtime::CpuBackendOptions{limit});
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
    print_table(e, s, sum, rep.get(), a.seed, wall_s);
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
  cmd->add_option("--seed", args->seed, "Seed of the generated Q, K, V")->capture_default_str();
  cmd->add_option("--timeout-s", args->timeout_s, "Seconds a rank waits for a peer before failing")
      ->capture_default_str();
  cmd->add_option("--max-host-memory-gib", args->max_host_memory_gib,
                  "Refuse runs needing more host memory than this (GiB)")
      ->capture_default_str();
  cmd->callback([args, &exit_code] { run(*args, exit_code); });
}

}  // namespace ringlab::app
