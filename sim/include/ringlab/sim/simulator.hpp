#pragma once
// The discrete-event simulator: executes a schedule's rank programs with the runtime's semantics over a
// modelled platform and predicts every op's start and end. See docs/simulator.md.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringlab/core/error.hpp"
#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/ir/source.hpp"
#include "ringlab/sim/cost_model.hpp"
#include "ringlab/sim/event_queue.hpp"
#include "ringlab/sim/flow_network.hpp"
#include "ringlab/topology/route.hpp"
#include "ringlab/trace/record.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::sim {

/// The GPUs the simulator places ranks on and the routes between them.
class Platform {
 public:
  virtual ~Platform() = default;
  /// Number of GPUs (valid GPU indices are 0 .. gpu_count()-1).
  [[nodiscard]] virtual std::int32_t gpu_count() const = 0;
  /// The directed links a transfer from GPU `src` to GPU `dst` crosses (empty when src == dst).
  [[nodiscard]] virtual topology::Route route(std::int32_t src, std::int32_t dst) const = 0;

 protected:
  Platform() = default;
  Platform(const Platform&) = default;             ///< concrete platforms may be values
  Platform& operator=(const Platform&) = default;  ///< concrete platforms may be values
};

/// A platform given as an explicit table of routes (tests, synthetic fabrics). Missing routes are errors.
class TablePlatform final : public Platform {
 public:
  /// A platform of `gpus` GPUs and no routes yet.
  explicit TablePlatform(std::int32_t gpus) : gpus_(gpus) {}
  /// Sets the route from `src` to `dst`.
  void set_route(std::int32_t src, std::int32_t dst, topology::Route r);
  [[nodiscard]] std::int32_t gpu_count() const override { return gpus_; }  ///< see Platform
  [[nodiscard]] topology::Route route(std::int32_t src, std::int32_t dst) const override;  ///< see Platform

 private:
  std::int32_t gpus_;
  std::vector<std::pair<std::int64_t, topology::Route>> routes_;  // sorted by src * gpus + dst
};

/// A schedule the simulator cannot finish: a deadlock (ranks waiting on each other) or a stall (a
/// transfer on a path with no bandwidth). what() names every waiting rank, op and reason.
class SimulationError : public Error {
 public:
  /// One op that was waiting when the simulation stopped.
  struct Waiter {
    std::int32_t rank = 0;       ///< its rank
    ir::OpId op = 0;             ///< its id
    std::string reason;          ///< what it waits for
  };
  /// Builds the message from `summary` and the waiters.
  SimulationError(const std::string& summary, std::vector<Waiter> waiters);
  [[nodiscard]] const std::vector<Waiter>& waiters() const noexcept { return waiters_; }  ///< who waits

 private:
  std::vector<Waiter> waiters_;
};

/// What to record.
struct SimOptions {
  bool record_trace = true;           ///< fill SimResult::trace with one record per op
  /// When set, called once the run is done with each rank's records (all of them, rank by rank), with
  /// or without record_trace: a caller that only summarises the trace (trace::SummaryBuilder) needs
  /// no copy of it all. SimResult::trace's hash and source are set either way.
  std::function<void(std::span<const trace::OpRecord>)> trace_sink;
  /// When set, every op goes into this builder (of a summary for this schedule) as the op retires, and
  /// SimResult::trace's hash and source are set: the summary trace_sink + add_rank would give, without
  /// a per-op log. Memory then stays about the ranks' windows (phases in program order, as generated
  /// schedules have them; otherwise a rank's figures are held until its end). With record_trace or
  /// trace_sink too, those still get their records.
  trace::SummaryBuilder* summary = nullptr;
  bool record_link_timeline = false;  ///< fill SimResult::link_timeline with every link rate change
  Time time_limit{0};                 ///< stop with a SimulationError past this simulated time (0: none)
};

/// Per-phase figures, each the maximum over ranks.
struct PhaseStats {
  std::uint32_t phase = 0;   ///< the phase (ring step)
  Time time{0};              ///< step time: how far the phase moved the rank's finish line
  Time compute{0};           ///< sum of the phase's compute op durations
  Time comm{0};              ///< union of the phase's transfer intervals (rendezvous to delivery)
  Time exposed_comm{0};      ///< part of that union during which the rank ran no compute
};

/// The busiest link of a run.
struct BusiestLink {
  LinkUsage usage;           ///< what it carried
  double utilisation = 0;    ///< bytes / (capacity x end-to-end time), in [0, 1]
};

/// Everything a simulation predicts.
struct SimResult {
  trace::Trace trace;                     ///< one record per op (when recorded), source "sim"
  Time total{0};                          ///< end-to-end time (last op's end; the run starts at 0)
  std::vector<PhaseStats> phases;         ///< per phase, max over ranks
  Time single_gpu{0};                     ///< the whole attention as one kernel on one GPU (see docs)
  double speedup = 0;                     ///< single_gpu / total
  double parallel_efficiency = 0;         ///< speedup / ranks (as trace::summarize defines it)
  double overlap_pct = 0;                 ///< 100 x hidden / total transfer time, all ranks and phases
  std::vector<Bytes> peak_memory;         ///< per rank, from the memory model
  std::int32_t ranks = 0;                 ///< P
  std::int32_t gpus_used = 0;             ///< distinct GPUs ranks were placed on
  std::vector<LinkUsage> links;           ///< every link that carried bytes, by link id
  std::optional<BusiestLink> busiest;     ///< the most utilised link (none without network traffic)
  std::vector<LinkSample> link_timeline;  ///< every link rate change (when recorded)
  std::uint64_t ops = 0;                  ///< ops executed
  std::uint64_t events = 0;               ///< events processed
  std::uint64_t recomputations = 0;       ///< max-min water-filling passes
};

/// Executes one schedule. Construct, call run() once.
class Simulator {
 public:
  /// Prepares to run `schedule` with rank r on GPU `gpu_of_rank[r]` of `platform`, priced by `cost`.
  /// Throws ValidationError if a send has no matching recv or a rank/GPU index is out of range.
  /// The arguments must outlive the simulator.
  Simulator(const ir::Schedule& schedule, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
            const CostModel& cost, SimOptions options = {});
  /// The same, reading the ranks from `source` one at a time (each once, while constructing; again only
  /// to record the trace or name the ops of a deadlock): a generator's schedule is never materialised.
  Simulator(const ir::ScheduleSource& source, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
            const CostModel& cost, SimOptions options = {});
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  /// Runs to completion; throws SimulationError on a deadlock or stall.
  [[nodiscard]] SimResult run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Convenience: Simulator(schedule, platform, gpu_of_rank, cost, options).run().
[[nodiscard]] SimResult simulate(const ir::Schedule& schedule, const Platform& platform,
                                 std::vector<std::int32_t> gpu_of_rank, const CostModel& cost,
                                 SimOptions options = {});
/// Convenience: Simulator(source, platform, gpu_of_rank, cost, options).run().
[[nodiscard]] SimResult simulate(const ir::ScheduleSource& source, const Platform& platform,
                                 std::vector<std::int32_t> gpu_of_rank, const CostModel& cost,
                                 SimOptions options = {});

/// The whole attention of `schedule` (sum of its Attend and AttendGrad FLOPs, i.e. the L x L attention
/// with its mask) as one Attend (plus one AttendGrad for a backward pass) on one GPU, priced by `cost`.
[[nodiscard]] Time single_gpu_time(const ir::Schedule& schedule, const CostModel& cost);

}  // namespace ringlab::sim
