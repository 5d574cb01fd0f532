#pragma once
// Flow-level network model. A transfer's wire bytes are one flow along its routed path of directed
// links; concurrent flows share every link's capacity by max-min fairness (progressive filling), and a
// flow never exceeds its own cap (the communication model's max rate). Rates are recomputed only for
// the connected component of flows that share links with a flow that started or finished, and only
// once per simulated instant (`settle`), so a ring step where P flows start together costs one
// water-filling pass per component rather than P.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/sim/event_queue.hpp"
#include "ringlab/sim/huge_arena.hpp"
#include "ringlab/sim/prefetch.hpp"
#include "ringlab/sim/short_list.hpp"
#include "ringlab/topology/route.hpp"

namespace ringlab::sim {

/// Index of a registered path (a list of directed links).
using PathId = std::uint32_t;
/// Index of a flow slot (reused after the flow finishes).
using FlowId = std::uint32_t;
/// No flow.
inline constexpr FlowId kNoFlow = 0xffffffffU;

/// One change of a link's load: from `time` on, `rate` bytes/s cross `link`.
struct LinkSample {
  Time time{0};                 ///< when the rate changed
  topology::LinkId link = 0;    ///< which directed link
  double rate = 0;              ///< total bytes per second on it from then on
};

/// What one directed link carried over a run.
struct LinkUsage {
  topology::LinkId link = 0;    ///< which directed link
  topology::LinkKind kind = topology::LinkKind::NVLink;  ///< what it is made of
  Bandwidth capacity{0};        ///< its capacity
  double bytes = 0;             ///< bytes carried (integral of its rate)
  Time busy{0};                 ///< time with at least one flow on it
};

/// Max-min fair sharing of link capacities among flows.
class FlowNetwork {
 public:
  /// Flow completions are pushed onto `queue` as EventType::flow_done.
  explicit FlowNetwork(EventQueue& queue, bool record_timeline = false);
  FlowNetwork(const FlowNetwork&) = delete;
  FlowNetwork& operator=(const FlowNetwork&) = delete;

  /// Registers a path; its hops' bandwidths are the links' capacities (a link seen again keeps its first).
  [[nodiscard]] PathId add_path(const topology::Route& route);
  /// Starts a flow of `bytes` (> 0) on `path`, never faster than `cap` (<= 0: no own cap); `user` is
  /// handed back when it finishes. Its rate is set by the next settle().
  ///
  /// `tail` >= 0: the user's own event comes `tail` after the flow's last byte, as
  /// `Event{EventType::transfer_done, user}`. A flow alone on every link of its path at its cap (the
  /// common case on a non-blocking fabric) then gets no flow_done event: the network schedules that
  /// event itself, and takes the flow off its links (at the time of its last byte) when a flow joins
  /// one of them or when the user calls finish_tail() — whichever comes first. Nobody else reads those
  /// links meanwhile, so every rate and figure is what the flow's own event would have given. A flow
  /// joined before its last byte gets its flow_done event back, in the place it would have had.
  /// Off while the timeline is recorded (its samples must come in time order).
  FlowId start(Time now, PathId path, double bytes, Bandwidth cap, std::uint32_t user, Time tail = Time{-1});
  /// Handles a flow_done event: removes the flow, writes its `user` and returns true.
  bool complete(Time now, const Event& ev, std::uint32_t& user);
  /// The user's tail event of flow `f` (started with a tail) has come: if the flow got no flow_done
  /// event, it is taken off its links now (if nothing did so before) and its slot freed. Returns
  /// false, doing nothing, if the flow had its flow_done event (complete() freed it then).
  bool finish_tail(FlowId f);
  /// Flows finished without a flow_done event (counted by the simulator as events: one per flow).
  [[nodiscard]] std::uint64_t tail_finished() const noexcept { return tail_finished_; }
  /// True when flows started or finished since the last settle().
  [[nodiscard]] bool dirty() const noexcept { return !dirty_flows_.empty() || !dirty_links_.empty(); }
  /// Recomputes the rates of the affected components and (re)schedules their completions.
  void settle(Time now);
  /// Flows in progress.
  [[nodiscard]] std::size_t active_flows() const noexcept { return active_; }
  /// Current rate of a flow in bytes/s (0 until settled, or if its path has no capacity).
  [[nodiscard]] double rate(FlowId f) const noexcept { return flows_[f].rate; }
  /// The `user` of each flow still running (for stall reports).
  [[nodiscard]] std::vector<std::uint32_t> stalled_users() const;
  /// Closes the books at `end`: per-link usage of every link that carried bytes, by link id.
  [[nodiscard]] std::vector<LinkUsage> usage(Time end);
  /// Every rate change, in time order (empty unless the timeline is recorded).
  [[nodiscard]] const std::vector<LinkSample>& timeline() const noexcept { return timeline_; }
  /// Starts loading what complete() will read for flow_done event `ev`, in two stages: the flow
  /// (Near false, well ahead), then its path's links (Near true, once the flow's line is there).
  template <bool Near>
  void prefetch(const Event& ev) const noexcept {
    const Flow& fl = flows_[ev.target];
    if constexpr (Near) {
      prefetch_path(fl.path);
    } else {
      sim::prefetch(&fl);
    }
  }
  /// Starts loading flow `f`'s record (its tail event is about to come).
  void prefetch_flow(FlowId f) const noexcept { sim::prefetch(&flows_[f]); }
  /// Starts loading the links of `path` (a transfer on it is about to start).
  void prefetch_path(PathId path) const noexcept {
    for (const auto l : links_of(path)) sim::prefetch(&links_[l]);
  }
  /// Number of water-filling passes run (a cost figure for benchmarks).
  [[nodiscard]] std::uint64_t recomputations() const noexcept { return recomputations_; }

 private:
  // One cache line, aligned: the far prefetch stage loads it whole (at 72 bytes its flags, which every
  // completion reads, lay in a second line that was never prefetched). The water-filling epoch is in
  // flow_mark_.
  struct alignas(64) Flow {
    double remaining = 0;      // bytes still to send, as of `updated`
    double rate = 0;           // bytes per second
    double cap = 0;            // own max rate (infinity when none)
    Time updated{0};           // when `remaining` was last brought up to date
    Time tail{-1};             // see start(); -1: none
    Time end{0};               // a flow in tail mode: when its last byte goes
    PathId path = 0;
    std::uint32_t user = 0;
    EventQueue::Slot slot = 0;  // its flow_done event (in tail mode, the user's tail event)
    bool active = false;       // on its links
    bool frozen = false;
    bool in_tail = false;      // in tail mode: no flow_done event (see start())
  };
  static_assert(sizeof(Flow) == 64);
  // A link's flows: up to two inline (a GPU's own links carry one or two), more on the heap. 16 bytes,
  // so that with the fields a flow's start and finish use, it fits the link's first cache line.
  using FlowList = ShortList<FlowId>;
  // What a flow's start and finish touch first, in the first cache line; water-filling's scratch after.
  struct alignas(64) Link {
    double capacity = 0;
    double load = 0;           // sum of the rates of its flows
    double bytes = 0;          // integral of load
    Time changed{0};           // when load last changed
    Time busy{0};
    FlowList flows;
    FlowId tail_flow = kNoFlow;  // its only flow, when that one is in tail mode
    double residual = 0;       // scratch for water-filling
    std::uint32_t unfrozen = 0;  // scratch
    std::uint32_t mark = 0;
    topology::LinkKind kind = topology::LinkKind::NVLink;
    bool known = false;
  };

  [[nodiscard]] std::span<const topology::LinkId> links_of(PathId p) const noexcept {
    return {path_links_.data() + path_begin_[p], path_begin_[p + 1] - path_begin_[p]};
  }
  void set_load(Time now, topology::LinkId l, double load);
  bool fast_start(Time now, FlowId f);
  void remove(Time now, FlowId f, bool saturated);
  void end_tail_mode(Time now, FlowId f);
  void take_off_alone(FlowId f);
  void water_fill(Time now);

  EventQueue& queue_;
  bool record_timeline_;
  // The tables a flow's events index (links, paths, flows), on huge pages (see HugeArena): at thousands
  // of GPUs they span more 4 KiB pages than the TLB holds.
  detail::HugeArena arena_;
  detail::ArenaVector<Link> links_{detail::ArenaAllocator<Link>(arena_)};
  detail::ArenaVector<topology::LinkId> path_links_{detail::ArenaAllocator<topology::LinkId>(arena_)};
  detail::ArenaVector<std::size_t> path_begin_{std::size_t{1}, std::size_t{0}, detail::ArenaAllocator<std::size_t>(arena_)};
  detail::ArenaVector<Flow> flows_{detail::ArenaAllocator<Flow>(arena_)};
  // Per flow: component-search epoch (water_fill's scratch).
  detail::ArenaVector<std::uint32_t> flow_mark_{detail::ArenaAllocator<std::uint32_t>(arena_)};
  // Where each flow sits in each of its links' lists: row f, one column per hop of its path.
  detail::ArenaVector<std::uint32_t> pos_{detail::ArenaAllocator<std::uint32_t>(arena_)};
  std::size_t stride_ = 0;                // columns per row: the longest path's hop count
  std::vector<bool> path_repeats_;        // per path: crosses some link twice (positions unused)
  std::vector<FlowId> free_flows_;
  std::vector<FlowId> dirty_flows_;
  std::vector<topology::LinkId> dirty_links_;
  std::vector<FlowId> comp_flows_;       // scratch: component being recomputed
  std::vector<topology::LinkId> comp_links_;
  std::vector<double> old_rates_;        // scratch: rates before the recomputation
  std::vector<LinkSample> timeline_;
  std::uint32_t epoch_ = 0;
  std::size_t active_ = 0;
  std::uint64_t recomputations_ = 0;
  std::uint64_t tail_finished_ = 0;
};

}  // namespace ringlab::sim
