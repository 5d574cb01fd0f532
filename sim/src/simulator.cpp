#include "ringlab/sim/simulator.hpp"

#include "ringlab/core/intervals.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/sim/huge_arena.hpp"
#include "ringlab/sim/round_ps.hpp"
#include "ringlab/sim/short_list.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace ringlab::sim {

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint32_t kAllWork = kNone - 1;  // gpu_reschedule: every kernel of the GPU
constexpr std::uint32_t kClean = kNone - 2;    // a GPU with no change to re-time
constexpr std::size_t kStreams = 4;
constexpr PathId kNoPath = std::numeric_limits<PathId>::max();
constexpr std::uint32_t kFar = 12;  // prefetch distances in events, see Simulator::run
constexpr std::uint32_t kNear = 4;
constexpr std::uint32_t kFirstWindow = 16;  // a rank's first window (slots): a ring rank's is about two ring steps

// How the interpreter executes an op.
enum class OpClass : std::uint8_t {
  gpu,    // kernel on a compute stream: shares the GPU's compute, slowed by interference
  timed,  // non-transfer op on a comm stream (copy engine): its model time, unshared
  send,   // one side of a rendezvous transfer
  recv,   // the other side
};
enum class OpState : std::uint8_t { pending, issued, running, done };

// The compiled form of one op of a rank's window (see Rank) and what happened to it.
struct SimOp {
  Time issued;           // when its stream issued it (for gpu/timed ops also when it started)
  Time ended;            // when it finished
  std::int64_t x;        // gpu/timed: idle time in ps; send/recv: its bytes until the transfer begins (both
                         // sides issued), then when it began
  std::uint32_t next;    // the next op of its stream (kNone: none compiled yet)
  std::uint32_t deps;    // ndeps == 1: the dependency (op id); more: index of the first in the rank's dep pool
  std::uint32_t phase;
  std::uint32_t group;
  std::uint32_t peer;    // send/recv: the other rank
  std::uint32_t tag;     // send/recv
  std::uint16_t ndeps;
  std::uint8_t bits;     // OpClass (bits 0-1), stream (2-3)
  OpState state;

  [[nodiscard]] OpClass cls() const noexcept { return static_cast<OpClass>(bits & 3U); }
  [[nodiscard]] std::uint32_t stream() const noexcept { return (bits >> 2) & 3U; }
  [[nodiscard]] bool is_comm() const noexcept { return cls() == OpClass::send || cls() == OpClass::recv; }
};
static_assert(std::is_trivially_copyable_v<SimOp>);

// An index of `items` to (re)use: the last freed one, else a new default element.
template <class V>
std::uint32_t reuse_or_add(std::vector<std::uint32_t>& free, V& items) {
  if (!free.empty()) {
    const std::uint32_t i = free.back();
    free.pop_back();
    return i;
  }
  items.emplace_back();
  return static_cast<std::uint32_t>(items.size() - 1);
}

struct StreamState {
  std::uint32_t head = kNone;      // next op to issue (kNone: none compiled yet, or none left)
  std::uint32_t busy = 0;          // ops of the group in flight not yet done
  // A dependency of the head's group found not done (kNone: none known). Only its own completion can
  // change that, and it calls try_issue with it, so until then the stream is skipped.
  std::uint32_t blocker = kNone;
};

// A send or recv issued before its peer's side: (peer rank, tag, op).
struct Posted {
  std::uint32_t peer;
  std::uint32_t tag;
  std::uint32_t op;
};

// One phase of one rank while its figures are gathered (see Rank::account).
struct PhaseAcc {
  Time end{0};                                // latest end of its ops
  std::int64_t compute = 0;                   // sum of its compute ops' durations
  std::vector<std::pair<Time, Time>> xfers;   // its transfers' intervals (begin to delivery)
  std::uint32_t phase = 0;
  bool any = false;                           // an op of it was accounted
};

// One rank: its streams and a window of its program. Ops are compiled from the rank's cursor only as
// far as its streams need (each stream's next op, and past a launched group's last op to see where
// the group ends) and forgotten once they and every op before them are done ("retired"), after their
// times have been folded into the rank's per-phase figures. A ring rank's window is a few ring steps
// whatever P is, so the simulator's memory is O(P), not O(P^2) (docs/simulator.md, "scale").
// This record holds what the rank's events touch, in four cache lines that are all prefetched for
// each of them (prefetch_for); what only compiling its next ops reads is in its RankFeed.
struct alignas(64) Rank {
  std::array<StreamState, kStreams> streams{};
  // The window: op id i (retired <= i < end) is ring[i & mask] (in the simulator's arena).
  SimOp* ring = nullptr;
  std::uint32_t mask = 0;
  std::uint32_t retired = 0;  // ops before this are done and accounted for
  std::uint32_t end = 0;      // ops compiled so far
  std::uint32_t gpu = 0;
  unsigned used = 0;          // streams the source says the rank uses
  // Where the last send's price came from (a rank's sends mostly go to one peer with one size).
  std::uint32_t price_peer = kNone;
  std::int64_t price_bytes = -1;
  std::uint32_t price = 0;
  PathId send_path = kNoPath;  // prices[price].path, at hand for prefetch_for
  PathId recv_path = kNoPath;  // the path of the last transfer it received (see prefetch_for)
  std::uint32_t busy_kept = 0;  // busy's size after the last prune
  ShortList<Posted> sends;     // issued, peer's recv not yet
  ShortList<Posted> recvs;     // issued, peer's send not yet
  // Per-phase figures: with phases in program order one phase is open at a time (`open`); otherwise
  // every phase is kept (RankFeed::all) until the run ends.
  PhaseAcc open;
  std::vector<std::pair<Time, Time>> busy;  // compute intervals retired, pruned (see finalise)
  Time prev_end{0};                         // how far the finalised phases moved the finish line
  bool busy_merged = true;                  // busy is sorted and disjoint (see add_merged)

  [[nodiscard]] SimOp& op(std::uint32_t i) noexcept { return ring[i & mask]; }
  [[nodiscard]] const SimOp& op(std::uint32_t i) const noexcept { return ring[i & mask]; }
  [[nodiscard]] bool is_done(std::uint32_t i) const noexcept {
    return i < retired || (i < end && op(i).state == OpState::done);
  }
};

static_assert(sizeof(Rank) == 256, "Rank: 4 cache lines, all prefetched for each of its events (see prefetch_for)");

// What an Attend or AttendGrad's time and memory depend on when the cost model prices them by shape
// (CostModel::attend_cost_by_shape).
struct AttendKey {
  std::int64_t q = 0;
  std::int64_t kv = 0;
  std::int64_t flops = 0;
  std::int32_t heads = 0;
  ir::Mask mask = ir::Mask::full;
  bool grad = false;
  friend bool operator==(const AttendKey&, const AttendKey&) = default;
};
template <class A>
AttendKey attend_key(const A& a) noexcept {
  return AttendKey{a.q.tokens, a.kv.tokens, a.flops.value, a.heads, a.mask, std::is_same_v<A, ir::AttendGrad>};
}

// The rest of a rank: what compiling its next ops touches (once per ring step, not per event), the
// dependency lists of ops with several, phases kept out of order, and its memory.
struct RankFeed {
  std::unique_ptr<ir::OpCursor> cursor;        // null once the program is read to its end
  std::array<std::uint32_t, kStreams> last{};  // last compiled op of each stream (kNone: none)
  // The time of the rank's last Merge op, which comes back alike step after step (a model lookup
  // touching the rank's buffers otherwise).
  std::optional<std::pair<ir::Merge, Time>> merge_time;
  // The shape and time of its last attention block priced, when the model prices them by shape.
  AttendKey attend_key;
  Time attend_time{0};
  bool attend_priced = false;
  // Dependencies of ops with more than one: pool index k (absolute) is dep_pool[k - dep_base].
  std::vector<std::uint32_t> dep_pool;
  std::uint32_t dep_base = 0;
  std::uint32_t max_dep = 0;  // the largest dependency seen, of op max_dep_of
  std::uint32_t max_dep_of = kNone;
  std::vector<PhaseAcc> all;  // every phase, when phases are not in program order
  Bytes resident{0};          // memory for the whole run, plus the largest op's
  Bytes workspace{0};

  [[nodiscard]] std::uint32_t dep(const SimOp& o, std::uint32_t k) const noexcept {
    return o.ndeps == 1 ? o.deps : dep_pool[o.deps - dep_base + k];
  }
};

// Adds [from, to) to the compute intervals `v`, merged as they come while they come in time order (on
// one compute stream kernels start and retire in the order they ran), so the list stays short; one
// out of order clears `merged` and leaves the list to merge_intervals. Either way the union is the same.
void add_merged(std::vector<std::pair<Time, Time>>& v, bool& merged, Time from, Time to) {
  if (to <= from) return;  // empty: covers nothing
  if (merged && !v.empty()) {
    auto& last = v.back();
    if (from >= last.first) {
      if (from <= last.second) {
        last.second = std::max(last.second, to);
      } else {
        v.emplace_back(from, to);
      }
      return;
    }
    merged = false;
  }
  v.emplace_back(from, to);
}

// A dependency of `o` (an op of rank k, whose feed is f) not done yet (kNone: all done).
[[nodiscard]] std::uint32_t pending_dep(const Rank& k, const RankFeed& f, const SimOp& o) noexcept {
  for (std::uint32_t j = 0; j < o.ndeps; ++j) {
    const std::uint32_t d = f.dep(o, j);
    if (!k.is_done(d)) return d;
  }
  return kNone;
}

// Per GPU, in one cache line; the lists are short (a kernel or two, a transfer or two).
struct alignas(64) Gpu {
  double speed = 1;                    // idle-ps of work done per ps, per running item
  Time updated{0};
  double factor = 1;                   // the largest of the transfers' factors (1 when none)
  ShortList<std::uint32_t> running;    // work items
  ShortList<double> transfers;         // interference factors of the transfers in flight on this GPU
};
static_assert(sizeof(Gpu) == 64);

struct Work {
  double remaining = 0;  // idle-time ps left
  std::uint32_t rank = 0;
  std::uint32_t op = 0;
  EventQueue::Slot slot = 0;  // its compute_done event
  std::uint32_t gpu = 0;
  bool active = false;
};

// An op of fixed duration in flight (timed_done's target).
struct Timer {
  std::uint32_t rank = 0;
  std::uint32_t op = 0;
};

// A transfer in flight: what its flow_done and transfer_done events need.
struct Transfer {
  std::uint32_t send_rank = 0;
  std::uint32_t send = 0;
  std::uint32_t recv_rank = 0;
  std::uint32_t recv = 0;
  std::uint32_t price = 0;
  FlowId flow = kNoFlow;  // its flow until the flow's flow_done event (kNoFlow: none, or that came)
  // prices[price]'s GPUs, at hand for prefetch_for: read through the price, they were a dependent miss
  // the far stage waited for (~6% of the samples at 4096 ranks).
  std::uint32_t src_gpu = 0;
  std::uint32_t dst_gpu = 0;
};
static_assert(sizeof(Transfer) == 32, "Transfer: two to a cache line");

struct Price {
  PathId path = 0;
  TransferCost cost;
  double interference = 1;  // compute slow-down on both GPUs while it is in flight
  std::int32_t src_gpu = 0;
  std::int32_t dst_gpu = 0;
};

struct MatchKey {
  std::uint64_t pair;  // src rank << 32 | dst rank
  std::uint32_t tag;
  std::uint32_t op;    // op id on its own rank; increasing, so equal keys match in program order
  friend bool operator<(const MatchKey& a, const MatchKey& b) noexcept {
    if (a.pair != b.pair) return a.pair < b.pair;
    if (a.tag != b.tag) return a.tag < b.tag;
    return a.op < b.op;
  }
};

// The whole attention as one kernel: Attend FLOPs `fwd` (and AttendGrad FLOPs `bwd`) on one GPU.
Time single_gpu_time_of(const ir::Workload& w, Flops fwd, Flops bwd, const CostModel& cost);

}  // namespace

// ---------------------------------------------------------------------------------------------------
// TablePlatform, SimulationError

void TablePlatform::set_route(std::int32_t src, std::int32_t dst, topology::Route r) {
  const std::int64_t key = static_cast<std::int64_t>(src) * gpus_ + dst;
  const auto it = std::lower_bound(routes_.begin(), routes_.end(), key,
                                   [](const auto& e, std::int64_t k) { return e.first < k; });
  if (it != routes_.end() && it->first == key) {
    it->second = std::move(r);
  } else {
    routes_.emplace(it, key, std::move(r));
  }
}

topology::Route TablePlatform::route(std::int32_t src, std::int32_t dst) const {
  if (src == dst) return {};
  const std::int64_t key = static_cast<std::int64_t>(src) * gpus_ + dst;
  const auto it = std::lower_bound(routes_.begin(), routes_.end(), key,
                                   [](const auto& e, std::int64_t k) { return e.first < k; });
  if (it == routes_.end() || it->first != key) {
    throw Error(fmt::format("platform has no route from GPU {} to GPU {}", src, dst));
  }
  return it->second;
}

namespace {
std::string waiter_message(const std::string& summary, const std::vector<SimulationError::Waiter>& w) {
  std::string msg = summary;
  const std::size_t shown = std::min<std::size_t>(w.size(), 16);
  for (std::size_t i = 0; i < shown; ++i) {
    msg += fmt::format("\n  rank {} op {}: {}", w[i].rank, w[i].op, w[i].reason);
  }
  if (w.size() > shown) msg += fmt::format("\n  ... and {} more", w.size() - shown);
  return msg;
}
}  // namespace

SimulationError::SimulationError(const std::string& summary, std::vector<Waiter> waiters)
    : Error(waiter_message(summary, waiters)), waiters_(std::move(waiters)) {}

// ---------------------------------------------------------------------------------------------------
// The interpreter

struct Simulator::Impl {
  Impl(const ir::ScheduleSource& src, std::unique_ptr<ir::StoredSource> owned, const Platform& p,
       std::vector<std::int32_t> g, const CostModel& c, SimOptions o)
      : stored(std::move(owned)), source(stored ? *stored : src), schedule(source.header()), platform(p),
        gpu_of_rank(std::move(g)), cost(c), options(o), network(queue, o.record_link_timeline) {}

  std::unique_ptr<ir::StoredSource> stored;  // when constructed from a Schedule
  const ir::ScheduleSource& source;          // rank programs, read through one cursor per rank as the run
                                             // needs them (and again only for the trace and errors)
  const ir::Schedule& schedule;              // the header: everything but the ops
  const Platform& platform;
  std::vector<std::int32_t> gpu_of_rank;
  const CostModel& cost;
  SimOptions options;
  EventQueue queue;
  FlowNetwork network;

  // The ranks' records, feeds and windows and the per-GPU, price and in-flight tables below: nearly all
  // that an event touches (not the ranks' cursors and phase lists), on huge pages (see HugeArena;
  // declared before its users, so it outlives them). Tables that grow leave their old copies in it.
  detail::HugeArena arena;
  detail::ArenaVector<Rank> ranks{detail::ArenaAllocator<Rank>(arena)};
  detail::ArenaVector<RankFeed> feeds{detail::ArenaAllocator<RankFeed>(arena)};  // per rank
  std::vector<std::vector<std::pair<Time, Time>>> logs;  // per rank, when recording: (issued, ended) of each op retired
  std::vector<trace::RankStream> summaries;             // per rank, with SimOptions::summary: its ops as they retire
  bool phases_in_order = false;
  detail::ArenaVector<Price> prices{detail::ArenaAllocator<Price>(arena)};
  std::unordered_map<std::uint64_t, PathId> paths;                   // src gpu << 32 | dst gpu
  std::vector<topology::Route> routes;                               // by path
  std::map<std::pair<PathId, std::int64_t>, std::uint32_t> by_bytes;  // (path, bytes) -> price
  detail::ArenaVector<Gpu> gpus{detail::ArenaAllocator<Gpu>(arena)};
  std::vector<std::uint32_t> gpu_added;   // per GPU: kClean, or changed since the last flush_gpus (see gpu_changed)
  std::vector<std::uint32_t> dirty_gpus;  // the GPUs not kClean
  detail::ArenaVector<Work> work{detail::ArenaAllocator<Work>(arena)};
  std::vector<std::uint32_t> free_work;
  detail::ArenaVector<Timer> timers{detail::ArenaAllocator<Timer>(arena)};
  std::vector<std::uint32_t> free_timers;
  detail::ArenaVector<Transfer> transfers{detail::ArenaAllocator<Transfer>(arena)};  // flows' users and transfer_done targets
  std::vector<std::uint32_t> free_transfers;
  // Ops of no duration launched while handling this event (rank, op): they complete at this instant,
  // in launch order, once the event is handled (complete_instant) — without a trip through the queue.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> instant;
  Time now{0};
  Time total{0};                   // latest op end
  std::uint64_t done = 0;
  std::uint64_t events = 0;
  std::vector<PhaseStats> phases;  // per phase, max over the ranks finalised so far
  double comm_total = 0;           // sum over ranks and phases of transfer time and its exposed part
  double exposed_total = 0;
  std::vector<std::pair<Time, Time>> scratch;
  Flops attend_flops{0};       // sum over Attend ops (for single_gpu_time, without another IR pass)
  Flops attend_grad_flops{0};  // sum over AttendGrad ops
  bool ran = false;
  bool attend_by_shape = false;  // cost.attend_cost_by_shape()

  void setup();
  SimOp* new_window(std::uint32_t n) {
    auto* w = static_cast<SimOp*>(arena.allocate(n * sizeof(SimOp), alignof(SimOp)));
    std::uninitialized_value_construct_n(w, n);
    return w;
  }
  bool compile_more(std::uint32_t r);
  void try_issue(std::uint32_t r, std::uint32_t completed);
  void launch(std::uint32_t r, std::uint32_t i);
  void start_timer(std::uint32_t r, std::uint32_t i, Time at);
  void post(std::uint32_t r, std::uint32_t i);
  void begin_transfer(std::uint32_t sr, std::uint32_t s, std::uint32_t rr, std::uint32_t v);
  std::uint32_t price_of(std::uint32_t sr, std::uint32_t rr, std::int64_t bytes);
  void finish_transfer(std::uint32_t t);
  void complete(std::uint32_t r, std::uint32_t i);
  void complete_instant();
  void retire(std::uint32_t r);
  void account(std::uint32_t r, const SimOp& o);
  void finalise(Rank& k, PhaseAcc& acc);
  void finish_accounts();
  [[nodiscard]] Time watermark(const Rank& k) const noexcept;
  void gpu_add(std::uint32_t r, std::uint32_t i);
  void gpu_finish(const Event& ev);
  // Four calls per transfer, inlined: out of line its prologue and epilogue were a quarter of its cost.
  [[gnu::always_inline]] inline void gpu_transfers(std::int32_t g, double factor, bool begin);
  void gpu_advance(Gpu& gpu);
  void gpu_reschedule(Gpu& gpu, std::uint32_t only);
  void gpu_changed(std::uint32_t g, std::uint32_t added);
  void flush_gpus();
  void check_matching();
  [[noreturn]] void report_stuck(const std::string& why);
  // Starts loading what an upcoming event will touch while this one is handled: at large P every
  // event is about another rank, whose state has left the nearest caches since that rank's last event.
  // In two stages, so that no prefetch waits on a load: far ahead (Near false), the rank's whole
  // record, the first line of its feed and its GPU, or a flow's record, found from the small hot
  // tables; nearer, what those lines point to: the rank's live window, the links of its last paths, the
  // tails of its phase lists and the generator's cursor (the first two lines: a ring rank compiles
  // once a step, and the cursor and feed were a third of compile_more's time at 4096 ranks), or the
  // flow's links. (Measured side by side at P = 4096: 20-25% faster than none; the cursor and feed
  // line 0.90 of the time without. No gain from a third stage for the peers' posted lists, nor from
  // running the near stage again for the next event to pop; the feed's other lines, 1.10.)
  template <bool Near>
  void prefetch_for(const Event& next) const noexcept {
    // `seen`: a path the event's other rank loads already (kNoPath: none).
    auto rank = [&](std::uint32_t r, PathId seen = kNoPath) __attribute__((always_inline)) {
      const Rank& k = ranks[r];
      if constexpr (Near) {
        // The live window, where retiring starts to its end: the ops an event of a rank reads or
        // writes are there. A window of the first size (a ring rank's, whatever P is) is loaded whole,
        // in straight-line code (fewer instructions than a loop over its live ops; its other slots are
        // those its next ops are compiled into).
        if (k.mask == kFirstWindow - 1) {
          const char* const w = reinterpret_cast<const char*>(k.ring);
          constexpr std::size_t kBytes = kFirstWindow * sizeof(SimOp);
          for (std::size_t at = 0; at < kBytes; at += 64) prefetch(w + at);
          prefetch(w + kBytes - 1);  // the last line, when the window does not start on a line
        } else {
          for (std::uint32_t j = k.retired; j < k.end; ++j) prefetch(&k.op(j));
        }
        // The links of the paths the rank's last transfers took (a ring rank's next ones take them too).
        if (k.send_path != kNoPath) network.prefetch_path(k.send_path);
        if (k.recv_path != kNoPath && k.recv_path != seen) network.prefetch_path(k.recv_path);
        if (!k.busy.empty()) prefetch(&k.busy.back());
        if (!k.open.xfers.empty()) prefetch(&k.open.xfers.back());
        if (const ir::OpCursor* c = feeds[r].cursor.get(); c != nullptr) {
          prefetch(c);
          prefetch(reinterpret_cast<const char*>(c) + 64);
        }
        if (!summaries.empty()) prefetch(summaries[r].next_slot());
      } else {
        for (std::size_t line = 0; line < sizeof(Rank); line += 64) {
          prefetch(reinterpret_cast<const char*>(&k) + line);
        }
        prefetch(&feeds[r]);
        if (!summaries.empty()) {
          prefetch(&summaries[r]);
          prefetch(reinterpret_cast<const char*>(&summaries[r]) + 64);
        }
      }
    };
    auto gpu = [&](std::size_t g) {
      if constexpr (!Near) prefetch(&gpus[g]);
    };
    switch (next.type) {
      case EventType::timed_done:
        rank(timers[next.target].rank);
        break;
      case EventType::transfer_done: {
        const Transfer& x = transfers[next.target];
        rank(x.send_rank);
        // The receiver's last receive is mostly this transfer, on the sender's last send path.
        rank(x.recv_rank, Near ? ranks[x.send_rank].send_path : kNoPath);
        if constexpr (!Near) {
          if (x.flow != kNoFlow) network.prefetch_flow(x.flow);
          prefetch(&prices[x.price]);
        }
        gpu(x.src_gpu);
        gpu(x.dst_gpu);
        break;
      }
      case EventType::compute_done: {
        const Work& wk = work[next.target];
        rank(wk.rank);
        gpu(wk.gpu);
        break;
      }
      case EventType::flow_done:
        network.prefetch<Near>(next);
        break;
    }
  }
  SimResult results();
};

void Simulator::Impl::setup() {
  const auto nranks = schedule.ranks.size();
  if (gpu_of_rank.size() != nranks) {
    throw ValidationError(fmt::format("placement maps {} ranks but the schedule has {}", gpu_of_rank.size(), nranks));
  }
  for (std::size_t r = 0; r < nranks; ++r) {
    if (gpu_of_rank[r] < 0 || gpu_of_rank[r] >= platform.gpu_count()) {
      throw ValidationError(fmt::format("rank {} is placed on GPU {}, but the platform has {} GPUs", r,
                                        gpu_of_rank[r], platform.gpu_count()));
    }
  }
  if (nranks >= kNone) throw ValidationError("schedule too large for the simulator (2^32 ranks)");
  gpus.resize(static_cast<std::size_t>(platform.gpu_count()));
  gpu_added.assign(gpus.size(), kClean);
  phases_in_order = source.phases_in_order();
  attend_by_shape = cost.attend_cost_by_shape();
  ranks.resize(nranks);
  feeds.resize(nranks);
  if (options.record_trace || options.trace_sink) logs.resize(nranks);
  if (options.summary != nullptr) {
    summaries.reserve(nranks);
    for (std::size_t r = 0; r < nranks; ++r) summaries.emplace_back(static_cast<std::int32_t>(r));
  }
  for (std::size_t r = 0; r < nranks; ++r) {
    Rank& k = ranks[r];
    k.ring = new_window(kFirstWindow);
    k.mask = kFirstWindow - 1;
    k.gpu = static_cast<std::uint32_t>(gpu_of_rank[r]);
    k.used = source.streams_used(r) & ((1U << kStreams) - 1);
    RankFeed& f = feeds[r];
    f.last.fill(kNone);
    f.cursor = source.cursor(r);
    // The log takes an entry per op: reserved once, it never holds a copy while it grows (at 4096 ranks
    // 0.94 GB of entries: `ringlab simulate` peaked at 0.99 GB instead of 1.13; time within the noise).
    if (!logs.empty()) logs[r].reserve(f.cursor->size_hint());
    f.resident = cost.resident_memory(schedule.workload, schedule.ranks[r]);
  }
}

// Compiles rank r's next batch of ops into its window; false once its program is read to the end.
bool Simulator::Impl::compile_more(std::uint32_t r) {
  Rank& k = ranks[r];
  RankFeed& f = feeds[r];
  if (!f.cursor) return false;
  const std::span<const ir::Op> batch = f.cursor->next();
  if (batch.empty()) {
    f.cursor.reset();
    if (f.max_dep_of != kNone && f.max_dep >= k.end) {
      throw ValidationError(fmt::format("rank {} op {} depends on missing op {}", r, f.max_dep_of, f.max_dep));
    }
    return false;
  }
  const ir::RankProgram& header = schedule.ranks[r];
  const auto peers = static_cast<std::int64_t>(ranks.size());
  for (const ir::Op& op : batch) {
    const std::uint32_t id = k.end;
    if (id == kNone - 1) throw ValidationError(fmt::format("rank {} has too many ops for the simulator (2^32)", r));
    if (op.id != id) throw ValidationError(fmt::format("rank {} op {} has id {}", r, id, op.id));
    const auto stream = static_cast<std::uint32_t>(op.stream);
    if (stream >= kStreams) throw ValidationError(fmt::format("rank {} op {}: bad stream", r, id));
    if ((k.used & (1U << stream)) == 0) {
      throw Error(fmt::format("simulator: the schedule source says rank {} does not use stream {}, but its op {} does",
                              r, stream, id));
    }
    if (op.deps.size() > 0xffff) throw ValidationError(fmt::format("rank {} op {}: too many dependencies", r, id));
    if (k.end - k.retired > k.mask) {  // the window is full: double it
      const std::uint32_t cap = 2 * (k.mask + 1);
      SimOp* grown = new_window(cap);  // (the old one stays in the arena until the run's end)
      for (std::uint32_t i = k.retired; i < k.end; ++i) grown[i & (cap - 1)] = k.op(i);
      k.ring = grown;
      k.mask = cap - 1;
    }
    SimOp& so = k.op(id);
    so = SimOp{};
    so.next = kNone;
    so.phase = op.phase;
    so.group = op.group;
    so.ndeps = static_cast<std::uint16_t>(op.deps.size());
    if (so.ndeps == 1) {
      so.deps = op.deps[0];
    } else if (so.ndeps > 1) {
      const std::uint64_t next = f.dep_base + f.dep_pool.size();  // the pool's next absolute index
      if (next > kNone - so.ndeps) throw ValidationError(fmt::format("rank {}: too many dependencies", r));
      so.deps = static_cast<std::uint32_t>(next);
      f.dep_pool.insert(f.dep_pool.end(), op.deps.begin(), op.deps.end());
    }
    for (const auto d : op.deps) {
      if (f.max_dep_of == kNone || d > f.max_dep) {
        f.max_dep = d;
        f.max_dep_of = id;
      }
    }
    OpClass cls = OpClass::gpu;
    bool known = false;  // its time and memory are the rank's last attention block's (see below)
    if (const auto* snd = std::get_if<ir::Send>(&op.kind)) {
      if (snd->peer < 0 || snd->peer >= peers) throw ValidationError(fmt::format("rank {} op {} sends to rank {}", r, id, snd->peer));
      cls = OpClass::send;
      so.peer = static_cast<std::uint32_t>(snd->peer);
      so.tag = snd->tag;
      so.x = snd->data.bytes.value;
    } else if (const auto* rcv = std::get_if<ir::Recv>(&op.kind)) {
      if (rcv->peer < 0 || rcv->peer >= peers) throw ValidationError(fmt::format("rank {} op {} receives from rank {}", r, id, rcv->peer));
      cls = OpClass::recv;
      so.peer = static_cast<std::uint32_t>(rcv->peer);
      so.tag = rcv->tag;
      so.x = rcv->data.bytes.value;
    } else {
      const bool compute_stream = op.stream == ir::Stream::compute || op.stream == ir::Stream::compute_aux;
      cls = compute_stream ? OpClass::gpu : OpClass::timed;
      AttendKey key;
      bool shaped = false;
      if (const auto* a = std::get_if<ir::Attend>(&op.kind)) {
        attend_flops += a->flops;
        shaped = attend_by_shape;
        if (shaped) key = attend_key(*a);
      } else if (const auto* g = std::get_if<ir::AttendGrad>(&op.kind)) {
        attend_grad_flops += g->flops;
        shaped = attend_by_shape;
        if (shaped) key = attend_key(*g);
      }
      // An attention block of the shape last priced takes that price; its memory is counted already.
      known = shaped && f.attend_priced && key == f.attend_key;
      const auto* merge = std::get_if<ir::Merge>(&op.kind);
      if (known) {
        so.x = f.attend_time.value;
      } else if (merge != nullptr && f.merge_time && f.merge_time->first == *merge) {
        so.x = f.merge_time->second.value;
      } else {
        so.x = cost.op_time(schedule.workload, header, op).value;
        if (so.x < 0) throw ValidationError(fmt::format("rank {} op {}: negative op time", r, id));
        if (merge != nullptr) f.merge_time.emplace(*merge, Time(so.x));
      }
      if (shaped && !known) {
        f.attend_key = key;
        f.attend_time = Time(so.x);
        f.attend_priced = true;
      }
    }
    if (!known) f.workspace = std::max(f.workspace, cost.op_memory(schedule.workload, op));
    so.bits = static_cast<std::uint8_t>(static_cast<unsigned>(cls) | stream << 2);
    if (f.last[stream] != kNone && f.last[stream] >= k.retired) k.op(f.last[stream]).next = id;
    if (k.streams[stream].head == kNone) k.streams[stream].head = id;
    f.last[stream] = id;
    ++k.end;
  }
  return true;
}

// `completed`: the op whose completion calls this (kNone: none), the only one that can unblock a stream.
void Simulator::Impl::try_issue(std::uint32_t r, std::uint32_t completed) {
  Rank& k = ranks[r];
  for (unsigned left = k.used; left != 0; left &= left - 1) {  // the streams the rank uses
    StreamState& st = k.streams[static_cast<std::size_t>(std::countr_zero(left))];
    while (st.busy == 0) {
      if (st.head == kNone) {  // its next op is not compiled yet: read on until it is
        while (st.head == kNone && compile_more(r)) {
        }
        if (st.head == kNone) break;
      }
      if (st.blocker != kNone && st.blocker != completed) break;
      std::uint32_t n = 1;
      std::uint32_t last = st.head;  // last op of the group
      std::uint32_t blocker = pending_dep(k, feeds[r], k.op(st.head));
      const std::uint32_t group = k.op(st.head).group;
      if (group != 0) {
        while (blocker == kNone) {
          // Where the group ends is known only once the op after its last is compiled.
          while (k.op(last).next == kNone && compile_more(r)) {
          }
          const std::uint32_t after = k.op(last).next;
          if (after == kNone || k.op(after).group != group) break;
          blocker = pending_dep(k, feeds[r], k.op(after));
          last = after;
          ++n;
        }
      }
      st.blocker = blocker;
      if (blocker != kNone) break;
      st.busy = n;
      std::uint32_t i = st.head;
      st.head = k.op(last).next;
      for (std::uint32_t m = 0; m < n; ++m) {
        const std::uint32_t following = k.op(i).next;
        launch(r, i);
        i = following;
      }
    }
  }
}

// An op of fixed duration: it completes at `at` (timed_done).
void Simulator::Impl::start_timer(std::uint32_t r, std::uint32_t i, Time at) {
  const std::uint32_t t = reuse_or_add(free_timers, timers);
  timers[t] = Timer{r, i};
  queue.push(at, Event{EventType::timed_done, t});
}

void Simulator::Impl::launch(std::uint32_t r, std::uint32_t i) {
  SimOp& op = ranks[r].op(i);
  op.issued = now;
  switch (op.cls()) {
    case OpClass::gpu:
      op.state = OpState::running;
      if (op.x == 0) {
        instant.emplace_back(r, i);
      } else {
        gpu_add(r, i);
      }
      break;
    case OpClass::timed:
      op.state = OpState::running;
      if (op.x == 0) {
        instant.emplace_back(r, i);
      } else {
        start_timer(r, i, now + Time(op.x));
      }
      break;
    case OpClass::send:
    case OpClass::recv:
      op.state = OpState::issued;
      post(r, i);
      break;
  }
}

// A send or recv issued: its transfer begins if the peer's side is already posted, else it waits for
// it. Sides pair by (source, destination, tag), which a valid schedule never repeats; repeated keys
// pair in issue order.
void Simulator::Impl::post(std::uint32_t r, std::uint32_t i) {
  const SimOp& op = ranks[r].op(i);
  const std::uint32_t p = op.peer;
  const bool is_send = op.cls() == OpClass::send;
  ShortList<Posted>& theirs = is_send ? ranks[p].recvs : ranks[p].sends;
  const auto it = std::find_if(theirs.begin(), theirs.end(),
                               [&](const Posted& x) { return x.peer == r && x.tag == op.tag; });
  if (it == theirs.end()) {
    (is_send ? ranks[r].sends : ranks[r].recvs).push_back(Posted{p, op.tag, i});
    // A send's transfer begins when the peer's recv comes: if it takes the rank's last path (a rank
    // mostly sends to one peer), load that path's links meanwhile.
    const Rank& k = ranks[r];
    if (is_send && k.price_peer == p && k.price_bytes == op.x) network.prefetch_path(k.send_path);
    return;
  }
  const std::uint32_t other = it->op;
  theirs.erase(it);
  if (is_send) {
    begin_transfer(r, i, p, other);
  } else {
    begin_transfer(p, other, r, i);
  }
}

std::uint32_t Simulator::Impl::price_of(std::uint32_t sr, std::uint32_t rr, std::int64_t bytes) {
  Rank& k = ranks[sr];
  if (k.price_peer == rr && k.price_bytes == bytes) return k.price;
  const auto src = static_cast<std::int32_t>(k.gpu);
  const auto dst = static_cast<std::int32_t>(ranks[rr].gpu);
  const std::uint64_t key = static_cast<std::uint64_t>(src) << 32 | static_cast<std::uint32_t>(dst);
  auto it = paths.find(key);
  if (it == paths.end()) {
    topology::Route route = platform.route(src, dst);
    topology::Route shared = route;  // the network shares the cost model's capacities, not line rates
    for (auto& hop : shared.hops) hop.bandwidth = cost.link_capacity(hop);
    const PathId path = network.add_path(shared);
    routes.push_back(std::move(route));
    it = paths.emplace(key, path).first;
  }
  const auto pk = std::make_pair(it->second, bytes);
  auto pit = by_bytes.find(pk);
  if (pit == by_bytes.end()) {
    Price pr;
    pr.path = it->second;
    pr.cost = cost.transfer(Bytes(bytes), routes[it->second]);
    pr.interference = cost.interference(routes[it->second]);
    if (!(pr.interference >= 1.0)) {
      throw ValidationError(fmt::format("interference factor {} < 1 for GPU {} -> GPU {}", pr.interference, src, dst));
    }
    pr.src_gpu = src;
    pr.dst_gpu = dst;
    pit = by_bytes.emplace(pk, static_cast<std::uint32_t>(prices.size())).first;
    prices.push_back(pr);
  }
  k.price_peer = rr;
  k.price_bytes = bytes;
  k.price = pit->second;
  k.send_path = prices[k.price].path;
  return k.price;
}

void Simulator::Impl::begin_transfer(std::uint32_t sr, std::uint32_t s, std::uint32_t rr, std::uint32_t v) {
  SimOp& so = ranks[sr].op(s);
  SimOp& ro = ranks[rr].op(v);
  const std::int64_t bytes = so.x;
  if (ro.x != bytes) {
    throw ValidationError(fmt::format("rank {} op {} sends {} bytes but rank {} op {} receives {}", sr, s, bytes, rr, v,
                                      ro.x));
  }
  so.state = ro.state = OpState::running;
  so.x = ro.x = now.value;  // when both began
  const std::uint32_t price = price_of(sr, rr, bytes);
  ranks[rr].recv_path = prices[price].path;
  const std::uint32_t t = reuse_or_add(free_transfers, transfers);
  const Price& pr = prices[price];
  transfers[t] = Transfer{sr, s, rr, v, price, kNoFlow, static_cast<std::uint32_t>(pr.src_gpu),
                          static_cast<std::uint32_t>(pr.dst_gpu)};
  gpu_transfers(pr.src_gpu, pr.interference, true);
  if (pr.dst_gpu != pr.src_gpu) gpu_transfers(pr.dst_gpu, pr.interference, true);
  if (pr.cost.wire_bytes.value > 0) {
    // Its transfer_done comes `fixed` after the last byte: the network schedules it itself when the
    // flow runs alone (FlowNetwork::start, "tail").
    transfers[t].flow =
        network.start(now, pr.path, static_cast<double>(pr.cost.wire_bytes.value), pr.cost.max_rate, t, pr.cost.fixed);
  } else {
    queue.push(now + pr.cost.fixed, Event{EventType::transfer_done, t});
  }
}

void Simulator::Impl::finish_transfer(std::uint32_t t) {
  const Transfer x = transfers[t];
  free_transfers.push_back(t);
  if (x.flow != kNoFlow) network.finish_tail(x.flow);
  const double interference = prices[x.price].interference;
  gpu_transfers(static_cast<std::int32_t>(x.src_gpu), interference, false);
  if (x.dst_gpu != x.src_gpu) gpu_transfers(static_cast<std::int32_t>(x.dst_gpu), interference, false);
  complete(x.send_rank, x.send);
  complete(x.recv_rank, x.recv);
}

void Simulator::Impl::complete(std::uint32_t r, std::uint32_t i) {
  Rank& k = ranks[r];
  SimOp& op = k.op(i);
  op.state = OpState::done;
  op.ended = now;
  total = std::max(total, now);
  ++done;
  --k.streams[op.stream()].busy;
  if (i == k.retired) retire(r);
  try_issue(r, i);
}

// The ops of no duration launched so far complete now, and those their completions launch, in launch
// order. (A masked-out block of a causal ring is one: half the attention ops of a causal schedule.)
void Simulator::Impl::complete_instant() {
  for (std::size_t j = 0; j < instant.size(); ++j) {
    const auto [r, i] = instant[j];
    complete(r, i);
  }
  instant.clear();
}

// Retires the rank's ops that are done and have no undone op before them, in program order.
void Simulator::Impl::retire(std::uint32_t r) {
  Rank& k = ranks[r];
  while (k.retired < k.end && k.op(k.retired).state == OpState::done) {
    const SimOp& o = k.op(k.retired);
    account(r, o);
    if (o.ndeps > 1) {  // the pool's entries up to this op's are no longer needed
      RankFeed& f = feeds[r];
      const std::uint32_t dead = o.deps + o.ndeps - f.dep_base;
      if (dead >= 64 && 2 * dead >= f.dep_pool.size()) {
        f.dep_pool.erase(f.dep_pool.begin(), f.dep_pool.begin() + dead);
        f.dep_base += dead;
      }
    }
    ++k.retired;
  }
}

// Folds a retired op into its rank's per-phase figures. With phases in program order, an op of a later
// phase closes the open one: every op of it is retired, so its figures are final (finalise).
void Simulator::Impl::account(std::uint32_t r, const SimOp& o) {
  Rank& k = ranks[r];
  if (!logs.empty()) logs[r].emplace_back(o.issued, o.ended);
  if (!summaries.empty()) summaries[r].add(o.phase, o.is_comm(), o.issued, o.ended);
  PhaseAcc* acc = nullptr;
  if (phases_in_order) {
    if (k.open.any && k.open.phase != o.phase) {
      finalise(k, k.open);
      k.open.xfers.clear();
      k.open.end = Time{0};
      k.open.compute = 0;
      // No op of an earlier phase is left, and none not retired yet started before the watermark.
      if (!summaries.empty()) summaries[r].settle(watermark(k), o.phase, *options.summary);
    }
    acc = &k.open;
  } else {
    std::vector<PhaseAcc>& all = feeds[r].all;
    if (all.size() <= o.phase) all.resize(static_cast<std::size_t>(o.phase) + 1);
    acc = &all[o.phase];
  }
  acc->any = true;
  acc->phase = o.phase;
  acc->end = std::max(acc->end, o.ended);
  if (o.cls() == OpClass::gpu) {
    acc->compute += (o.ended - o.issued).value;
    add_merged(k.busy, k.busy_merged, o.issued, o.ended);  // retired: finalise merges it if out of order
  } else if (o.is_comm()) {
    acc->xfers.emplace_back(Time(o.x), o.ended);
  }
}

// The phase's figures into the run's (PhaseStats: the maximum over ranks). Its transfers' exposed part
// is what no compute interval of the rank covers: the retired ones (busy) and the ops of the window
// not retired yet that have started (a running one covers at least up to now, and now is past every
// transfer of the phase). Without phase order this runs once the whole rank is done.
void Simulator::Impl::finalise(Rank& k, PhaseAcc& acc) {
  if (phases.size() <= acc.phase) {
    const auto from = static_cast<std::uint32_t>(phases.size());
    phases.resize(static_cast<std::size_t>(acc.phase) + 1);
    for (std::uint32_t p = from; p < phases.size(); ++p) phases[p].phase = p;
  }
  PhaseStats& ps = phases[acc.phase];
  const Time e = std::max(k.prev_end, acc.end);
  ps.time = std::max(ps.time, e - k.prev_end);
  k.prev_end = e;
  ps.compute = std::max(ps.compute, Time(acc.compute));
  if (acc.xfers.empty()) return;
  merge_intervals(acc.xfers);
  if (!k.busy_merged) {
    merge_intervals(k.busy);
    k.busy_merged = true;
  }
  // Only compute intervals ending after the phase's first transfer began can cover any of it.
  const Time first_begin = acc.xfers.front().first;
  scratch.assign(std::partition_point(k.busy.begin(), k.busy.end(),
                                      [&](const auto& b) { return b.second <= first_begin; }),
                 k.busy.end());
  // The window's started kernels join that list as add_merged does (busy's part of it is merged).
  // The earliest a transfer not finalised yet began (one not begun yet begins at now or later): no
  // compute interval ending before it matters again.
  bool merged = true;
  Time keep_from = now;
  for (std::uint32_t i = k.retired; i < k.end; ++i) {
    const SimOp& o = k.op(i);
    if (o.cls() == OpClass::gpu && o.state >= OpState::running) {
      add_merged(scratch, merged, o.issued, o.state == OpState::done ? o.ended : now);
    } else if (o.is_comm() && o.state >= OpState::running) {
      keep_from = std::min(keep_from, Time(o.x));
    }
  }
  if (!merged) merge_intervals(scratch);
  std::size_t hint = 0;
  const std::int64_t len = interval_length(acc.xfers);
  const std::int64_t exposed = len - overlap_length(acc.xfers, scratch, hint);
  ps.comm = std::max(ps.comm, Time(len));
  ps.exposed_comm = std::max(ps.exposed_comm, Time(exposed));
  comm_total += static_cast<double>(len);
  exposed_total += static_cast<double>(exposed);
  if (phases_in_order && k.busy.size() >= 2 * k.busy_kept + 8) {
    std::erase_if(k.busy, [&](const auto& b) { return b.second <= keep_from; });
    k.busy_kept = static_cast<std::uint32_t>(k.busy.size());
  }
}

// The earliest any op of rank k not retired yet started or will start: a record's start is its issue
// time, and an op not issued yet issues at `now` or later.
Time Simulator::Impl::watermark(const Rank& k) const noexcept {
  Time w = now;
  for (std::uint32_t i = k.retired; i < k.end; ++i) {
    const SimOp& o = k.op(i);
    if (o.state != OpState::pending) w = std::min(w, o.issued);
  }
  return w;
}

// At the end of the run: the phases still open (all of them without phase order, in phase order).
void Simulator::Impl::finish_accounts() {
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    if (!summaries.empty()) summaries[r].finish(*options.summary);
    Rank& k = ranks[r];
    if (phases_in_order) {
      if (k.open.any) finalise(k, k.open);
    } else {
      for (PhaseAcc& acc : feeds[r].all) {
        if (acc.any) finalise(k, acc);
      }
    }
  }
}

// GPU sharing: the running kernels of one GPU progress at `speed` idle-picoseconds per picosecond each,
// speed = 1 / (n * f) with n kernels running and f the interference factor while a transfer of this GPU
// is in flight (1 otherwise) — processor sharing, so ranks placed on one GPU share its compute fairly.
void Simulator::Impl::gpu_advance(Gpu& gpu) {
  const double dt = static_cast<double>((now - gpu.updated).value);
  if (dt > 0) {
    for (const auto w : gpu.running) work[w].remaining = std::max(0.0, work[w].remaining - dt * gpu.speed);
  }
  gpu.updated = now;
}

// A GPU's kernels' completion times change (a kernel added or finished, the interference factor
// changed): they are re-timed once the simulated instant is done (flush_gpus, before the network's
// settle), so the several changes one instant's events make to a GPU (a kernel ends, its stream's next
// starts, a transfer begins) cost one re-timing. `added`: a kernel added since (kNone: none); it needs
// its first event even if the others' speed stands.
void Simulator::Impl::gpu_changed(std::uint32_t g, std::uint32_t added) {
  if (gpu_added[g] == kClean) {
    gpu_added[g] = added;
    dirty_gpus.push_back(g);
  } else if (added != kNone) {
    gpu_added[g] = gpu_added[g] == kNone ? added : kAllWork;
  }
}

void Simulator::Impl::flush_gpus() {
  for (const std::uint32_t g : dirty_gpus) {
    gpu_reschedule(gpus[g], gpu_added[g]);
    gpu_added[g] = kClean;
  }
  dirty_gpus.clear();
}

// Re-times the GPU's kernels at its current speed: all of them if the speed changed, else only `only`
// (kAllWork: all; kNone: none).
void Simulator::Impl::gpu_reschedule(Gpu& gpu, std::uint32_t only) {
  const double f = gpu.factor;
  const double speed = gpu.running.empty() ? 1.0 : 1.0 / (static_cast<double>(gpu.running.size()) * f);
  const bool all = speed != gpu.speed || only == kAllWork;
  gpu.speed = speed;
  for (const auto w : gpu.running) {
    if (!all && w != only) continue;
    Work& wk = work[w];
    const double ps = speed == 1.0 ? wk.remaining : round_ps(wk.remaining / speed);
    queue.schedule(wk.slot, now + Time(static_cast<std::int64_t>(ps)), Event{EventType::compute_done, w});
  }
}

void Simulator::Impl::gpu_add(std::uint32_t r, std::uint32_t i) {
  const std::size_t before = work.size();
  const std::uint32_t w = reuse_or_add(free_work, work);
  if (work.size() > before) work.back().slot = queue.add_slot();  // a new item: its own event slot
  const std::uint32_t g = ranks[r].gpu;
  Work& wk = work[w];
  wk.remaining = static_cast<double>(ranks[r].op(i).x);
  wk.rank = r;
  wk.op = i;
  wk.gpu = g;
  wk.active = true;
  Gpu& gpu = gpus[g];
  gpu_advance(gpu);
  gpu.running.push_back(w);
  gpu_changed(g, w);
}

void Simulator::Impl::gpu_finish(const Event& ev) {
  Work& wk = work[ev.target];
  if (!wk.active) return;  // not reached: a work item's event is moved, never left stale
  Gpu& gpu = gpus[wk.gpu];
  gpu_advance(gpu);
  gpu.running.erase_value(ev.target);  // keep order: rescheduling order stays deterministic and fair
  wk.active = false;
  free_work.push_back(ev.target);
  gpu_changed(wk.gpu, kNone);
  complete(wk.rank, wk.op);
}

// Interference: while transfers of a GPU are in flight its kernels run `factor` times slower, factor
// being the largest of those transfers' factors (models::InterferenceModel::combine); progress made so
// far is kept, only the remaining work is re-timed.
inline void Simulator::Impl::gpu_transfers(std::int32_t g, double factor, bool begin) {
  Gpu& gpu = gpus[static_cast<std::size_t>(g)];
  double f = 1.0;
  if (begin) {
    gpu.transfers.push_back(factor);
    if (factor <= gpu.factor) return;  // the largest stands (a ring's two transfers of a GPU mostly alike)
    f = factor;
  } else {
    gpu.transfers.erase_value(factor);
    if (factor < gpu.factor) return;  // not the largest: the largest stands
    for (const double x : gpu.transfers) f = std::max(f, x);
    if (f == gpu.factor) return;
  }
  gpu_advance(gpu);
  gpu.factor = f;
  if (!gpu.running.empty()) gpu_changed(static_cast<std::uint32_t>(g), kNone);
}

// A run that could not finish may have failed because sends and recvs do not pair: reads every rank
// again and names the first unpaired one (in (source, destination, tag) order) as a ValidationError.
void Simulator::Impl::check_matching() {
  std::vector<MatchKey> sends;
  std::vector<MatchKey> recvs;
  ir::RankProgram scratch_program;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const auto& prog = source.rank(r, scratch_program).ops;
    const auto me = static_cast<std::uint64_t>(r);
    for (std::size_t k = 0; k < prog.size(); ++k) {
      const auto id = static_cast<std::uint32_t>(k);
      if (const auto* s = std::get_if<ir::Send>(&prog[k].kind)) {
        sends.push_back(MatchKey{me << 32 | static_cast<std::uint64_t>(s->peer), s->tag, id});
      } else if (const auto* v = std::get_if<ir::Recv>(&prog[k].kind)) {
        recvs.push_back(MatchKey{static_cast<std::uint64_t>(v->peer) << 32 | me, v->tag, id});
      }
    }
  }
  std::sort(sends.begin(), sends.end());
  std::sort(recvs.begin(), recvs.end());
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < sends.size() || j < recvs.size()) {
    const bool have_s = i < sends.size();
    const bool have_r = j < recvs.size();
    if (have_s && have_r && sends[i].pair == recvs[j].pair && sends[i].tag == recvs[j].tag) {
      ++i;
      ++j;
      continue;
    }
    const bool send_first = have_s && (!have_r || sends[i].pair < recvs[j].pair ||
                                       (sends[i].pair == recvs[j].pair && sends[i].tag < recvs[j].tag));
    const MatchKey& k = send_first ? sends[i] : recvs[j];
    const std::uint64_t owner = send_first ? k.pair >> 32 : k.pair & 0xffffffffU;
    throw ValidationError(fmt::format("rank {} op {} ({} rank {} -> rank {}, tag {}) has no matching {}", owner, k.op,
                                      send_first ? "send" : "recv", k.pair >> 32, k.pair & 0xffffffffU, k.tag,
                                      send_first ? "recv" : "send"));
  }
}

void Simulator::Impl::report_stuck(const std::string& why) {
  std::vector<SimulationError::Waiter> waiters;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> stalled;  // (rank, op) of both sides of transfers at zero rate
  for (const auto u : network.stalled_users()) {
    stalled.emplace_back(transfers[u].send_rank, transfers[u].send);
    stalled.emplace_back(transfers[u].recv_rank, transfers[u].recv);
  }
  std::sort(stalled.begin(), stalled.end());
  ir::RankProgram scratch_program;
  ir::RankProgram peer_program;
  const ir::RankProgram* program = nullptr;  // of rank r, read when one of its ops is named
  std::uint32_t r = 0;
  auto op_name = [&](std::uint32_t i) {
    if (program == nullptr) program = &source.rank(r, scratch_program);
    return fmt::format("{} (phase {})", ir::kind_name(program->ops.at(i).kind), ranks[r].op(i).phase);
  };
  // The op of rank p that pairs with rank r's op `o` (-1: none).
  auto partner = [&](const SimOp& o) -> std::int64_t {
    const auto& prog = source.rank(o.peer, peer_program).ops;
    for (const auto& x : prog) {
      if (o.cls() == OpClass::send) {
        if (const auto* v = std::get_if<ir::Recv>(&x.kind); v && v->peer == static_cast<std::int32_t>(r) && v->tag == o.tag) return x.id;
      } else if (const auto* s = std::get_if<ir::Send>(&x.kind); s && s->peer == static_cast<std::int32_t>(r) && s->tag == o.tag) {
        return x.id;
      }
    }
    return -1;
  };
  for (r = 0; r < ranks.size(); ++r) {
    program = nullptr;
    const Rank& k = ranks[r];
    for (std::uint32_t s = 0; s < kStreams; ++s) {
      for (std::uint32_t i = k.retired; i < k.end; ++i) {
        const SimOp& op = k.op(i);
        if (op.stream() != s || op.state == OpState::pending || op.state == OpState::done) continue;
        std::string reason;
        if (op.state == OpState::issued) {
          const std::int64_t p = partner(op);
          reason = fmt::format("{} posted, waiting for rank {} to issue its {} ({})", op_name(i), op.peer,
                               op.cls() == OpClass::send ? "recv" : "send",
                               p >= 0 ? fmt::format("op {}", p) : std::string("it has none"));
        } else if (op.is_comm() && std::binary_search(stalled.begin(), stalled.end(), std::make_pair(r, i))) {
          reason = fmt::format("{} in flight at zero bandwidth (a link on its path has no capacity)", op_name(i));
        } else {
          reason = fmt::format("{} running", op_name(i));
        }
        waiters.push_back({static_cast<std::int32_t>(r), i, std::move(reason)});
      }
      const StreamState& st = k.streams[s];
      if (st.busy == 0 && st.head != kNone) {
        const SimOp& op = k.op(st.head);
        std::string missing;
        for (std::uint32_t d = 0; d < op.ndeps; ++d) {
          const std::uint32_t dep = feeds[r].dep(op, d);
          if (!k.is_done(dep)) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", dep);
        }
        waiters.push_back({static_cast<std::int32_t>(r), st.head,
                           fmt::format("{} not issued: waits for op(s) {}", op_name(st.head), missing)});
      }
    }
  }
  std::uint64_t compiled = 0;
  for (const Rank& k : ranks) compiled += k.end;
  // Format before moving the list: argument evaluation order is unspecified.
  auto message = fmt::format("{} at t = {:.6f} ms: {} of {} ops done; {} ops waiting", why, to_seconds(now) * 1e3,
                             done, compiled, waiters.size());
  throw SimulationError(std::move(message), std::move(waiters));
}

SimResult Simulator::Impl::results() {
  SimResult res;
  const auto nranks = static_cast<std::int32_t>(ranks.size());
  res.ranks = nranks;
  res.ops = done;
  res.events = events + network.tail_finished();  // a flow's end is an event even when none was popped
  res.recomputations = network.recomputations();
  res.total = total;
  {
    std::vector<std::int32_t> used(gpu_of_rank);
    std::sort(used.begin(), used.end());
    res.gpus_used = static_cast<std::int32_t>(std::unique(used.begin(), used.end()) - used.begin());
  }
  res.phases = std::move(phases);
  res.overlap_pct = comm_total > 0 ? 100.0 * (1.0 - exposed_total / comm_total) : 0.0;
  res.single_gpu = single_gpu_time_of(schedule.workload, attend_flops, attend_grad_flops, cost);
  res.speedup = res.total.value > 0 ? res.single_gpu / res.total : 0.0;
  res.parallel_efficiency = nranks > 0 ? res.speedup / nranks : 0.0;  // as trace::summarize defines it
  res.peak_memory.reserve(static_cast<std::size_t>(nranks));
  for (const RankFeed& f : feeds) res.peak_memory.push_back(f.resident + f.workspace);
  res.links = network.usage(res.total);
  for (const auto& l : res.links) {
    const double u = res.total.value > 0 && l.capacity.value > 0
                         ? l.bytes / (l.capacity.value * to_seconds(res.total))
                         : 0.0;
    if (!res.busiest || u > res.busiest->utilisation) res.busiest = BusiestLink{l, u};
  }
  if (options.record_link_timeline) res.link_timeline = network.timeline();
  res.trace.source = "sim";
  res.trace.ranks = nranks;
  if (!logs.empty()) {
    // The programs once more, for the records' kinds and sizes and for the schedule's hash; each rank's
    // records to the sink and (record_trace) into the trace.
    ir::ScheduleHasher hasher(schedule);
    if (options.record_trace) res.trace.records.reserve(done);
    ir::RankProgram program;
    std::vector<trace::OpRecord> rank_records;
    for (std::int32_t r = 0; r < nranks; ++r) {
      const auto& prog = source.rank(static_cast<std::size_t>(r), program);
      hasher.add_rank(prog);
      const auto& log = logs[static_cast<std::size_t>(r)];
      rank_records.resize(prog.ops.size());
      for (std::size_t k = 0; k < prog.ops.size(); ++k) {
        const ir::Op& op = prog.ops[k];
        trace::OpRecord& rec = rank_records[k];
        rec.rank = r;
        rec.op = static_cast<ir::OpId>(k);
        rec.phase = op.phase;
        rec.stream = op.stream;
        rec.kind = ir::kind_name(op.kind);
        rec.start = log.at(k).first;
        rec.end = log.at(k).second;
        rec.flops = ir::op_flops(op.kind);
        rec.bytes = Bytes{0};
        std::visit(
            [&](const auto& kind) {
              using K = std::decay_t<decltype(kind)>;
              if constexpr (std::is_same_v<K, ir::Send> || std::is_same_v<K, ir::Recv>) rec.bytes = kind.data.bytes;
              else if constexpr (std::is_same_v<K, ir::Copy> || std::is_same_v<K, ir::Reduce>) rec.bytes = kind.src.bytes;
            },
            op.kind);
      }
      if (options.trace_sink) options.trace_sink(rank_records);
      if (options.record_trace) {
        res.trace.records.insert(res.trace.records.end(), std::make_move_iterator(rank_records.begin()),
                                 std::make_move_iterator(rank_records.end()));
      }
    }
    res.trace.schedule_hash = hasher.value();
  } else if (options.summary != nullptr) {
    res.trace.schedule_hash = ir::schedule_hash(source);
  }
  return res;
}

Simulator::Simulator(const ir::Schedule& schedule, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                     const CostModel& cost, SimOptions options) {
  auto stored = std::make_unique<ir::StoredSource>(schedule);
  const ir::ScheduleSource& src = *stored;
  impl_ = std::make_unique<Impl>(src, std::move(stored), platform, std::move(gpu_of_rank), cost, options);
  impl_->setup();
}

Simulator::Simulator(const ir::ScheduleSource& source, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                     const CostModel& cost, SimOptions options)
    : impl_(std::make_unique<Impl>(source, nullptr, platform, std::move(gpu_of_rank), cost, options)) {
  impl_->setup();
}

Simulator::~Simulator() = default;

SimResult Simulator::run() {
  Impl& s = *impl_;
  if (s.ran) throw Error("Simulator::run called twice");
  s.ran = true;
  s.queue.reserve(4 * s.ranks.size() + 16);
  for (std::uint32_t r = 0; r < s.ranks.size(); ++r) s.try_issue(r, kNone);
  s.complete_instant();
  s.flush_gpus();
  Event ev;
  Time t;
  for (;;) {
    if ((!s.dirty_gpus.empty() || s.network.dirty()) && (s.queue.empty() || s.queue.top_time() > s.now)) {
      // All of this instant's changes at once: each GPU's kernels re-timed once, the network's flows
      // rated in one recomputation.
      s.flush_gpus();
      s.network.settle(s.now);
      continue;
    }
    if (s.queue.empty()) break;
    s.queue.pop(t, ev);
    s.now = t;
    // Two stages per upcoming event, each once, as the event enters its distance: events that many
    // places behind this one in the FIFO it came from pop at least that many events from now (a
    // lane's events often come in bursts of one instant, so not many more): far enough ahead for
    // their data to arrive, near enough for it to stay.
    if (Event up; s.queue.upcoming(kFar, up)) s.prefetch_for<false>(up);
    if (Event up; s.queue.upcoming(kNear, up)) s.prefetch_for<true>(up);
    ++s.events;
    if (s.options.time_limit.value > 0 && s.now > s.options.time_limit) s.report_stuck("time limit exceeded");
    switch (ev.type) {
      case EventType::compute_done:
        s.gpu_finish(ev);
        break;
      case EventType::timed_done: {
        const Timer x = s.timers[ev.target];
        s.free_timers.push_back(ev.target);
        s.complete(x.rank, x.op);
        break;
      }
      case EventType::flow_done: {
        std::uint32_t xfer = 0;
        if (s.network.complete(s.now, ev, xfer)) {
          s.transfers[xfer].flow = kNoFlow;
          const Price& pr = s.prices[s.transfers[xfer].price];
          s.queue.push(s.now + pr.cost.fixed, Event{EventType::transfer_done, xfer});
        }
        break;
      }
      case EventType::transfer_done:
        s.finish_transfer(ev.target);
        break;
    }
    if (!s.instant.empty()) s.complete_instant();
  }
  // Finished only if every rank's program was read to its end and all of it retired. Otherwise read
  // the rest (it may hold the error that explains the stop), check the pairing, then name the waiters.
  bool finished = true;
  for (std::uint32_t r = 0; r < s.ranks.size(); ++r) {
    while (s.compile_more(r)) {
    }
    finished = finished && s.ranks[r].retired == s.ranks[r].end;
  }
  if (!finished) {
    s.check_matching();
    s.report_stuck(s.network.active_flows() > 0 ? "stall: transfers make no progress" : "deadlock");
  }
  s.finish_accounts();
  return s.results();
}

SimResult simulate(const ir::Schedule& schedule, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                   const CostModel& cost, SimOptions options) {
  Simulator sim(schedule, platform, std::move(gpu_of_rank), cost, options);
  return sim.run();
}

SimResult simulate(const ir::ScheduleSource& source, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                   const CostModel& cost, SimOptions options) {
  Simulator sim(source, platform, std::move(gpu_of_rank), cost, options);
  return sim.run();
}

Time single_gpu_time(const ir::Schedule& schedule, const CostModel& cost) {
  Flops fwd{0};
  Flops bwd{0};
  for (const auto& rank : schedule.ranks) {
    for (const auto& op : rank.ops) {
      if (const auto* a = std::get_if<ir::Attend>(&op.kind)) fwd += a->flops;
      else if (const auto* g = std::get_if<ir::AttendGrad>(&op.kind)) bwd += g->flops;
    }
  }
  return single_gpu_time_of(schedule.workload, fwd, bwd, cost);
}

namespace {
Time single_gpu_time_of(const ir::Workload& w, Flops fwd, Flops bwd, const CostModel& cost) {
  ir::Schedule one;
  one.variant = "single_gpu";
  one.workload = w;
  one.token_sets.push_back(ir::TokenSet{{ir::Chunk{0, w.seq_len, 1}}});
  one.partition.owned = {0};
  one.ranks.resize(1);
  const Bytes qbytes(w.batch * w.seq_len * w.q_heads * w.head_dim * ir::element_bytes(w.dtype));
  const Bytes kvbytes(2 * w.batch * w.seq_len * w.kv_heads * w.head_dim * ir::element_bytes(w.dtype));
  const Bytes lsebytes(w.batch * w.seq_len * w.q_heads * 4);
  one.ranks[0].buffers = {{"q", ir::BufferRole::q, w.dtype, w.seq_len, qbytes},
                          {"kv", ir::BufferRole::kv, w.dtype, w.seq_len, kvbytes},
                          {"out", ir::BufferRole::out, w.dtype, w.seq_len, qbytes},
                          {"lse", ir::BufferRole::lse, ir::DType::fp32, w.seq_len, lsebytes},
                          {"grad_out", ir::BufferRole::grad_out, w.dtype, w.seq_len, qbytes},
                          {"grad_q", ir::BufferRole::grad_q, w.dtype, w.seq_len, qbytes},
                          {"grad_kv", ir::BufferRole::grad_kv, w.dtype, w.seq_len, kvbytes}};
  const ir::TokenSlice q{0, 0, w.seq_len, 0};
  const ir::TokenSlice kv{1, 0, w.seq_len, 0};
  const ir::Mask mask = w.causal || w.window > 0 || w.dilation > 1 ? ir::Mask::partial : ir::Mask::full;
  const auto heads = static_cast<std::int32_t>(w.q_heads);
  Time t{0};
  if (fwd.value > 0) {
    ir::Op op;
    op.kind = ir::Attend{q, kv, 2, 3, 0, 0, heads, mask, fwd};
    t += cost.op_time(one.workload, one.ranks[0], op);
  }
  if (bwd.value > 0) {
    ir::Op op;
    op.kind = ir::AttendGrad{q, kv, 2, 3, 4, 5, 6, 0, 0, heads, mask, bwd};
    t += cost.op_time(one.workload, one.ranks[0], op);
  }
  return t;
}
}  // namespace

// ---------------------------------------------------------------------------------------------------
// SimpleCostModel

Time SimpleCostModel::op_time(const ir::Workload& /*w*/, const ir::RankProgram& /*rank*/, const ir::Op& op) const {
  const Flops f = ir::op_flops(op.kind);
  if (f.value > 0) return compute_time(f, p_.flop_rate);
  if (const auto* a = std::get_if<ir::Attend>(&op.kind); a != nullptr && a->mask == ir::Mask::skip) return Time{0};
  return p_.fixed_op_time;
}

TransferCost SimpleCostModel::transfer(Bytes bytes, const topology::Route& route) const {
  TransferCost c;
  c.fixed = p_.latency;
  for (const auto& h : route.hops) c.fixed += h.latency;
  c.wire_bytes = bytes;
  c.max_rate = route.hops.empty() ? p_.local_rate : p_.max_rate;
  if (route.hops.empty() && p_.local_rate.value <= 0) c.wire_bytes = Bytes{0};  // same GPU: instant
  return c;
}

Bandwidth SimpleCostModel::link_capacity(const topology::Hop& hop) const { return hop.bandwidth; }

double SimpleCostModel::interference(const topology::Route& /*route*/) const { return p_.interference; }

Bytes SimpleCostModel::resident_memory(const ir::Workload& /*w*/, const ir::RankProgram& rank) const {
  Bytes b{0};
  for (const auto& buf : rank.buffers) b += buf.bytes;
  return b;
}

Bytes SimpleCostModel::op_memory(const ir::Workload& /*w*/, const ir::Op& /*op*/) const { return Bytes{0}; }

}  // namespace ringlab::sim
