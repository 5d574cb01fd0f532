// ringlab schedule / validate / version: build, inspect, check and dump schedules.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "commands.hpp"
#include "format.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/ir/experiment.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/ir/validate.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/models/memory.hpp"
#include "ringlab/topology/load.hpp"

namespace ringlab::app {

namespace {

struct ScheduleArgs {
  std::string experiment;
  std::vector<std::string> overrides;
  std::string dump;
  bool max_seq_len = false;
};

/// The device spec of the experiment's topology (every GPU of a topology is of one kind).
models::DeviceSpec device_of(const ir::Experiment& e) {
  return models::load_cluster_device(topology::load_topology(e.topology));
}

void print_memory(const ir::Schedule& s, const models::DeviceSpec& device) {
  const auto check = models::check_memory(s, device);
  const auto& peak = check.ranks[check.peak_rank];
  fmt::print("memory      rank {} needs {} (buffers {} + workspace {} + framework {}) of {} on {}: {}\n",
             check.peak_rank, human_bytes(check.peak), human_bytes(peak.buffers), human_bytes(peak.workspace),
             human_bytes(peak.overhead), human_bytes(check.capacity), device.name,
             check.fits() ? "fits" : "DOES NOT FIT");
}

void print_summary(const ir::Experiment& e, const ir::Schedule& s) {
  const auto& w = s.workload;
  fmt::print("experiment  {} ({})\n", e.name, e.file);
  fmt::print("variant     {} on {} rank{}, {} partition\n", s.variant, s.ranks.size(), s.ranks.size() == 1 ? "" : "s",
             ir::to_string(s.partition.kind));
  fmt::print("workload    batch {} x seq {} | heads {} q / {} kv x dim {} | {} | {} | {}\n", w.batch, w.seq_len,
             w.q_heads, w.kv_heads, w.head_dim, ir::to_string(w.dtype), w.causal ? "causal" : "non-causal",
             ir::to_string(w.pass));
  fmt::print("hash        {}\n\n", ir::schedule_hash(s));
  std::vector<ir::RankTotals> totals;
  for (std::size_t r = 0; r < s.ranks.size(); ++r) totals.push_back(ir::rank_totals(s, r));
  fmt::print("{:>6} {:>7} {:>7} {:>8} {:>6} {:>11} {:>11} {:>12} {:>11}\n", "rank", "phases", "ops", "attends", "sends",
             "sent", "received", "FLOPs", "memory");
  auto row = [&](std::size_t r) {
    const auto& t = totals[r];
    fmt::print("{:>6} {:>7} {:>7} {:>8} {:>6} {:>11} {:>11} {:>12} {:>11}\n", r, t.phases, t.ops, t.attends, t.sends,
               human_bytes(t.sent), human_bytes(t.received), human_flops(t.flops), human_bytes(t.memory));
  };
  // Long rank lists show the first and last few; the totals below cover all of them.
  const std::size_t n = totals.size();
  for (std::size_t r = 0; r < n; ++r) {
    if (n > 16 && r == 8) fmt::print("{:>6}\n", "...");
    if (n <= 16 || r < 8 || r + 4 >= n) row(r);
  }
  ir::RankTotals sum;
  Flops max_flops{0};
  for (const auto& t : totals) {
    sum.ops += t.ops;
    sum.sent += t.sent;
    sum.flops += t.flops;
    max_flops = std::max(max_flops, t.flops);
  }
  const ir::TokenSet all{{ir::Chunk{0, w.seq_len, 1}}};
  const Flops full = ir::attend_flops(w, all, all);
  fmt::print("\ntotal       {} ops, {} sent, {} (the whole attention: {}; busiest rank {:.1f}% of the total)\n", sum.ops,
             human_bytes(sum.sent), human_flops(sum.flops), human_flops(full),
             sum.flops.value > 0 ? 100.0 * (max_flops / sum.flops) : 0.0);
}

ir::Schedule build(const ir::Experiment& e) {
  auto s = ir::generate(e.workload, e.schedule);
  ir::validate(s);
  return s;
}

}  // namespace

void add_schedule_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ScheduleArgs>();
  auto* sched = app.add_subcommand("schedule", "Generate the schedule of an experiment and print its summary");
  sched->add_option("experiment", args->experiment, "Experiment YAML file")->required();
  sched->add_option("--set", args->overrides, "Override a scalar of the experiment: dotted.key=value (repeatable)");
  sched->add_option("--dump", args->dump, "Write the schedule IR to FILE (.yaml or .json)");
  sched->add_flag("--max-seq-len", args->max_seq_len,
                  "Also search the largest seq_len whose schedule fits the topology's GPU memory");
  sched->callback([args, &exit_code] {
    const auto e = ir::load_experiment(args->experiment, args->overrides);
    const auto s = build(e);
    print_summary(e, s);
    const auto device = device_of(e);
    print_memory(s, device);
    if (args->max_seq_len) {
      const auto best = models::max_seq_len(e.workload, e.schedule, device);
      fmt::print("max seq_len {} tokens fit on {} with {} x {} (step {})\n", best, device.name, e.schedule.variant,
                 e.schedule.ranks, models::seq_len_step(e.workload, e.schedule));
    }
    if (!args->dump.empty()) {
      ir::save_schedule(s, args->dump);
      fmt::print("wrote {}\n", args->dump);
    }
    exit_code = 0;
  });

  auto vargs = std::make_shared<ScheduleArgs>();
  auto* val = app.add_subcommand("validate", "Check an experiment or a schedule IR file (YAML or JSON)");
  val->add_option("file", vargs->experiment, "Experiment or schedule file")->required();
  val->add_option("--set", vargs->overrides, "Override a scalar of an experiment: dotted.key=value (repeatable)");
  val->callback([vargs, &exit_code] {
    const auto& file = vargs->experiment;
    ir::Schedule s;
    if (ir::looks_like_experiment(file)) {
      const auto e = ir::load_experiment(file, vargs->overrides);
      s = ir::generate(e.workload, e.schedule);
    } else {
      if (!vargs->overrides.empty()) throw InputError(file, 0, 0, "--set", "--set applies to experiment files only");
      s = ir::load_schedule(file);
    }
    const auto errors = ir::validation_errors(s);
    if (!errors.empty()) {
      for (const auto& err : errors) fmt::print(stderr, "error: {}: {}\n", file, err);
      exit_code = 2;
      return;
    }
    std::size_t ops = 0;
    for (const auto& r : s.ranks) ops += r.ops.size();
    fmt::print("ok: {} is a valid {} schedule ({} ranks, {} ops, hash {})\n", file, s.variant, s.ranks.size(), ops,
               ir::schedule_hash(s));
    exit_code = 0;
  });

  auto* ver = app.add_subcommand("version", "Print ringlab's version and IR format version");
  ver->callback([&exit_code] {
    fmt::print("ringlab {} (IR format {})\n", RINGLAB_VERSION, ir::kFormatVersion);
    exit_code = 0;
  });
}

}  // namespace ringlab::app
