#include "ringlab/sim/simulator.hpp"

#include "ringlab/ir/serialize.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

namespace ringlab::sim {

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t kStreams = 4;
constexpr double kPs = static_cast<double>(kPsPerSecond);

// How the interpreter executes an op.
enum class OpClass : std::uint8_t {
  gpu,    // kernel on a compute stream: shares the GPU's compute, slowed by interference
  timed,  // non-transfer op on a comm stream (copy engine): its model time, unshared
  send,   // one side of a rendezvous transfer
  recv,   // the other side
};
enum class OpState : std::uint8_t { pending, issued, running, done };

// The compiled form of one op: 32 bytes, against the IR's 176 (see docs/simulator.md, "scale").
struct SimOp {
  std::int64_t duration = 0;      // gpu/timed: idle time in ps; send: index of its transfer price
  std::uint32_t deps_begin = 0;   // first of its dependencies in deps_ (global op indices)
  std::uint32_t phase = 0;
  std::uint32_t group = 0;
  std::uint32_t partner = kNone;  // send/recv: global index of the matching op
  std::uint32_t rank = 0;
  std::uint16_t ndeps = 0;
  OpClass cls = OpClass::gpu;
  std::uint8_t stream = 0;
};
static_assert(sizeof(SimOp) == 32);

struct StreamState {
  std::uint32_t begin = 0;     // first index into order_ of this rank-stream
  std::uint32_t head = 0;      // next op to issue
  std::uint32_t end = 0;
  std::uint32_t launched = 0;  // first op of the group in flight
  std::uint32_t busy = 0;      // ops of the launched group not yet done
};

struct Gpu {
  std::vector<std::uint32_t> running;  // work items
  double speed = 1;                    // idle-ps of work done per ps, per running item
  Time updated{0};
  std::vector<double> transfers;       // interference factors of the transfers in flight on this GPU
  double factor = 1;                   // the largest of them (1 when none)
};

struct Work {
  double remaining = 0;  // idle-time ps left
  std::uint32_t op = 0;
  std::uint32_t generation = 0;
  std::uint32_t gpu = 0;
  bool active = false;
};

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
  std::uint32_t op;    // global index; increasing within a rank, so equal keys match in issue order
  friend bool operator<(const MatchKey& a, const MatchKey& b) noexcept {
    if (a.pair != b.pair) return a.pair < b.pair;
    if (a.tag != b.tag) return a.tag < b.tag;
    return a.op < b.op;
  }
};

std::int64_t interval_length(const std::vector<std::pair<Time, Time>>& merged) {
  std::int64_t n = 0;
  for (const auto& [a, b] : merged) n += (b - a).value;
  return n;
}

// Sorts and merges intervals in place.
void merge_intervals(std::vector<std::pair<Time, Time>>& v) {
  std::sort(v.begin(), v.end());
  std::size_t out = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].second <= v[i].first) continue;
    if (out > 0 && v[i].first <= v[out - 1].second) {
      v[out - 1].second = std::max(v[out - 1].second, v[i].second);
    } else {
      v[out++] = v[i];
    }
  }
  v.resize(out);
}

// Length of the intersection of two merged interval lists.
std::int64_t overlap_length(const std::vector<std::pair<Time, Time>>& a, const std::vector<std::pair<Time, Time>>& b) {
  std::int64_t n = 0;
  std::size_t j = 0;
  for (const auto& [s, e] : a) {
    while (j < b.size() && b[j].second <= s) ++j;
    for (std::size_t k = j; k < b.size() && b[k].first < e; ++k) {
      const Time lo = std::max(s, b[k].first);
      const Time hi = std::min(e, b[k].second);
      if (hi > lo) n += (hi - lo).value;
    }
  }
  return n;
}

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
  Impl(const ir::Schedule& s, const Platform& p, std::vector<std::int32_t> g, const CostModel& c, SimOptions o)
      : schedule(s), platform(p), gpu_of_rank(std::move(g)), cost(c), options(o), network(queue, o.record_link_timeline) {}

  const ir::Schedule& schedule;
  const Platform& platform;
  std::vector<std::int32_t> gpu_of_rank;
  const CostModel& cost;
  SimOptions options;
  EventQueue queue;
  FlowNetwork network;

  std::vector<std::uint32_t> rank_base;  // global index of each rank's op 0; back() = total
  std::vector<SimOp> ops;
  std::vector<std::uint32_t> deps;
  std::vector<std::uint32_t> order;      // ops grouped by (rank, stream), in issue order
  std::vector<StreamState> streams;      // rank * kStreams + stream
  std::vector<OpState> state;
  std::vector<Time> issued, started, ended;
  std::vector<Price> prices;
  std::vector<Gpu> gpus;
  std::vector<Work> work;
  std::vector<std::uint32_t> free_work;
  Time now{0};
  std::uint64_t done = 0;
  std::uint64_t events = 0;
  bool ran = false;

  void compile();
  void match();
  void price_transfers();
  void try_issue(std::uint32_t rank);
  void launch(std::uint32_t i);
  void begin_transfer(std::uint32_t send);
  void finish_transfer(std::uint32_t send);
  void complete(std::uint32_t i);
  void gpu_add(std::uint32_t i);
  void gpu_finish(const Event& ev);
  void gpu_transfers(std::int32_t g, double factor, bool begin);
  void gpu_advance(Gpu& gpu);
  void gpu_reschedule(Gpu& gpu, std::uint32_t only);
  [[nodiscard]] bool deps_done(std::uint32_t i) const noexcept {
    const SimOp& op = ops[i];
    for (std::uint32_t k = 0; k < op.ndeps; ++k) {
      if (state[deps[op.deps_begin + k]] != OpState::done) return false;
    }
    return true;
  }
  [[noreturn]] void report_stuck(const std::string& why);
  SimResult results();
};

void Simulator::Impl::compile() {
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
  rank_base.assign(nranks + 1, 0);
  std::uint64_t total = 0;
  std::uint64_t total_deps = 0;
  for (std::size_t r = 0; r < nranks; ++r) {
    rank_base[r] = static_cast<std::uint32_t>(total);
    total += schedule.ranks[r].ops.size();
    for (const auto& op : schedule.ranks[r].ops) total_deps += op.deps.size();
    if (total >= kNone || total_deps >= kNone) throw ValidationError("schedule too large for the simulator (2^32 ops)");
  }
  rank_base[nranks] = static_cast<std::uint32_t>(total);
  ops.resize(total);
  deps.reserve(total_deps);
  order.resize(total);
  streams.resize(nranks * kStreams);
  gpus.resize(static_cast<std::size_t>(platform.gpu_count()));

  for (std::size_t r = 0; r < nranks; ++r) {
    const auto& prog = schedule.ranks[r].ops;
    const std::uint32_t base = rank_base[r];
    std::array<std::uint32_t, kStreams> count{};
    for (std::size_t k = 0; k < prog.size(); ++k) {
      const ir::Op& op = prog[k];
      if (op.id != k) throw ValidationError(fmt::format("rank {} op {} has id {}", r, k, op.id));
      const auto stream = static_cast<std::size_t>(op.stream);
      if (stream >= kStreams) throw ValidationError(fmt::format("rank {} op {}: bad stream", r, k));
      if (op.deps.size() > 0xffff) throw ValidationError(fmt::format("rank {} op {}: too many dependencies", r, k));
      SimOp& so = ops[base + k];
      so.rank = static_cast<std::uint32_t>(r);
      so.phase = op.phase;
      so.group = op.group;
      so.stream = static_cast<std::uint8_t>(stream);
      so.deps_begin = static_cast<std::uint32_t>(deps.size());
      so.ndeps = static_cast<std::uint16_t>(op.deps.size());
      for (const auto d : op.deps) {
        if (d >= prog.size()) throw ValidationError(fmt::format("rank {} op {} depends on missing op {}", r, k, d));
        deps.push_back(base + d);
      }
      const bool compute_stream = op.stream == ir::Stream::compute || op.stream == ir::Stream::compute_aux;
      so.cls = std::visit(
          [&](const auto& kind) {
            using K = std::decay_t<decltype(kind)>;
            if constexpr (std::is_same_v<K, ir::Send>) return OpClass::send;
            else if constexpr (std::is_same_v<K, ir::Recv>) return OpClass::recv;
            else return compute_stream ? OpClass::gpu : OpClass::timed;
          },
          op.kind);
      if (so.cls == OpClass::gpu || so.cls == OpClass::timed) {
        so.duration = cost.op_time(schedule, static_cast<std::int32_t>(r), op).value;
        if (so.duration < 0) throw ValidationError(fmt::format("rank {} op {}: negative op time", r, k));
      }
      ++count[stream];
    }
    std::array<std::uint32_t, kStreams> pos{};
    std::uint32_t off = base;
    for (std::size_t s = 0; s < kStreams; ++s) {
      StreamState& st = streams[r * kStreams + s];
      st.begin = st.head = st.launched = off;
      pos[s] = off;
      off += count[s];
      st.end = off;
    }
    for (std::size_t k = 0; k < prog.size(); ++k) {
      order[pos[static_cast<std::size_t>(prog[k].stream)]++] = base + static_cast<std::uint32_t>(k);
    }
  }
  match();
  price_transfers();
  state.assign(total, OpState::pending);
  issued.assign(total, Time{0});
  started.assign(total, Time{0});
  ended.assign(total, Time{0});
}

void Simulator::Impl::match() {
  std::vector<MatchKey> sends;
  std::vector<MatchKey> recvs;
  const auto nranks = static_cast<std::int64_t>(schedule.ranks.size());
  for (std::size_t r = 0; r < schedule.ranks.size(); ++r) {
    const auto& prog = schedule.ranks[r].ops;
    for (std::size_t k = 0; k < prog.size(); ++k) {
      const auto gi = rank_base[r] + static_cast<std::uint32_t>(k);
      const auto me = static_cast<std::uint64_t>(r);
      if (const auto* s = std::get_if<ir::Send>(&prog[k].kind)) {
        if (s->peer < 0 || s->peer >= nranks) throw ValidationError(fmt::format("rank {} op {} sends to rank {}", r, k, s->peer));
        sends.push_back(MatchKey{me << 32 | static_cast<std::uint64_t>(s->peer), s->tag, gi});
      } else if (const auto* v = std::get_if<ir::Recv>(&prog[k].kind)) {
        if (v->peer < 0 || v->peer >= nranks) throw ValidationError(fmt::format("rank {} op {} receives from rank {}", r, k, v->peer));
        recvs.push_back(MatchKey{static_cast<std::uint64_t>(v->peer) << 32 | me, v->tag, gi});
      }
    }
  }
  std::sort(sends.begin(), sends.end());
  std::sort(recvs.begin(), recvs.end());
  auto describe = [&](std::uint32_t gi) {
    const SimOp& o = ops[gi];
    return fmt::format("rank {} op {}", o.rank, gi - rank_base[o.rank]);
  };
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < sends.size() || j < recvs.size()) {
    const bool have_s = i < sends.size();
    const bool have_r = j < recvs.size();
    if (have_s && have_r && sends[i].pair == recvs[j].pair && sends[i].tag == recvs[j].tag) {
      ops[sends[i].op].partner = recvs[j].op;
      ops[recvs[j].op].partner = sends[i].op;
      ++i;
      ++j;
      continue;
    }
    const bool send_first = have_s && (!have_r || sends[i].pair < recvs[j].pair ||
                                       (sends[i].pair == recvs[j].pair && sends[i].tag < recvs[j].tag));
    const MatchKey& k = send_first ? sends[i] : recvs[j];
    throw ValidationError(fmt::format("{} ({} rank {} -> rank {}, tag {}) has no matching {}", describe(k.op),
                                      send_first ? "send" : "recv", k.pair >> 32, k.pair & 0xffffffffU, k.tag,
                                      send_first ? "recv" : "send"));
  }
}

void Simulator::Impl::price_transfers() {
  std::unordered_map<std::uint64_t, PathId> paths;  // src gpu << 32 | dst gpu
  std::map<std::pair<PathId, std::int64_t>, std::uint32_t> by_bytes;
  std::vector<topology::Route> routes;
  for (std::size_t r = 0; r < schedule.ranks.size(); ++r) {
    const auto& prog = schedule.ranks[r].ops;
    for (std::size_t k = 0; k < prog.size(); ++k) {
      const auto* s = std::get_if<ir::Send>(&prog[k].kind);
      if (s == nullptr) continue;
      const auto gi = rank_base[r] + static_cast<std::uint32_t>(k);
      const std::uint32_t partner = ops[gi].partner;
      const auto& rv = std::get<ir::Recv>(schedule.ranks[ops[partner].rank].ops[partner - rank_base[ops[partner].rank]].kind);
      if (rv.data.bytes != s->data.bytes) {
        throw ValidationError(fmt::format("rank {} op {} sends {} bytes but rank {} op {} receives {}", r, k,
                                          s->data.bytes.value, ops[partner].rank, partner - rank_base[ops[partner].rank],
                                          rv.data.bytes.value));
      }
      const std::int32_t src = gpu_of_rank[r];
      const std::int32_t dst = gpu_of_rank[static_cast<std::size_t>(s->peer)];
      const std::uint64_t key = static_cast<std::uint64_t>(src) << 32 | static_cast<std::uint32_t>(dst);
      auto it = paths.find(key);
      if (it == paths.end()) {
        topology::Route route = platform.route(src, dst);
        topology::Route shared = route;  // the network shares the cost model's capacities, not line rates
        for (auto& hop : shared.hops) hop.bandwidth = cost.link_capacity(hop);
        const PathId p = network.add_path(shared);
        routes.push_back(std::move(route));
        it = paths.emplace(key, p).first;
      }
      const auto pk = std::make_pair(it->second, s->data.bytes.value);
      auto pit = by_bytes.find(pk);
      if (pit == by_bytes.end()) {
        Price pr;
        pr.path = it->second;
        pr.cost = cost.transfer(s->data.bytes, routes[it->second]);
        pr.interference = cost.interference(routes[it->second]);
        if (!(pr.interference >= 1.0)) {
          throw ValidationError(fmt::format("interference factor {} < 1 for GPU {} -> GPU {}", pr.interference, src, dst));
        }
        pr.src_gpu = src;
        pr.dst_gpu = dst;
        pit = by_bytes.emplace(pk, static_cast<std::uint32_t>(prices.size())).first;
        prices.push_back(pr);
      }
      ops[gi].duration = pit->second;
    }
  }
}

void Simulator::Impl::try_issue(std::uint32_t rank) {
  for (std::size_t s = 0; s < kStreams; ++s) {
    StreamState& st = streams[rank * kStreams + s];
    while (st.busy == 0 && st.head < st.end) {
      const std::uint32_t group = ops[order[st.head]].group;
      std::uint32_t n = 1;
      if (group != 0) {
        while (st.head + n < st.end && ops[order[st.head + n]].group == group) ++n;
      }
      bool ready = true;
      for (std::uint32_t k = 0; k < n && ready; ++k) ready = deps_done(order[st.head + k]);
      if (!ready) break;
      st.busy = n;
      st.launched = st.head;
      st.head += n;
      for (std::uint32_t k = 0; k < n; ++k) launch(order[st.launched + k]);
    }
  }
}

void Simulator::Impl::launch(std::uint32_t i) {
  issued[i] = now;
  started[i] = now;
  SimOp& op = ops[i];
  switch (op.cls) {
    case OpClass::gpu:
      state[i] = OpState::running;
      if (op.duration == 0) {
        queue.push(now, Event{EventType::timed_done, i, 0});
      } else {
        gpu_add(i);
      }
      break;
    case OpClass::timed:
      state[i] = OpState::running;
      queue.push(now + Time(op.duration), Event{EventType::timed_done, i, 0});
      break;
    case OpClass::send:
    case OpClass::recv:
      state[i] = OpState::issued;
      if (state[op.partner] == OpState::issued) begin_transfer(op.cls == OpClass::send ? i : op.partner);
      break;
  }
}

void Simulator::Impl::begin_transfer(std::uint32_t send) {
  const std::uint32_t recv = ops[send].partner;
  state[send] = state[recv] = OpState::running;
  started[send] = started[recv] = now;
  const Price& pr = prices[static_cast<std::size_t>(ops[send].duration)];
  gpu_transfers(pr.src_gpu, pr.interference, true);
  if (pr.dst_gpu != pr.src_gpu) gpu_transfers(pr.dst_gpu, pr.interference, true);
  if (pr.cost.wire_bytes.value > 0) {
    network.start(now, pr.path, static_cast<double>(pr.cost.wire_bytes.value), pr.cost.max_rate, send);
  } else {
    queue.push(now + pr.cost.fixed, Event{EventType::transfer_done, send, 0});
  }
}

void Simulator::Impl::finish_transfer(std::uint32_t send) {
  const Price& pr = prices[static_cast<std::size_t>(ops[send].duration)];
  gpu_transfers(pr.src_gpu, pr.interference, false);
  if (pr.dst_gpu != pr.src_gpu) gpu_transfers(pr.dst_gpu, pr.interference, false);
  complete(send);
  complete(ops[send].partner);
}

void Simulator::Impl::complete(std::uint32_t i) {
  state[i] = OpState::done;
  ended[i] = now;
  ++done;
  const SimOp& op = ops[i];
  --streams[op.rank * kStreams + op.stream].busy;
  try_issue(op.rank);
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

void Simulator::Impl::gpu_reschedule(Gpu& gpu, std::uint32_t only) {
  const double f = gpu.factor;
  const double speed = gpu.running.empty() ? 1.0 : 1.0 / (static_cast<double>(gpu.running.size()) * f);
  const bool all = speed != gpu.speed;
  gpu.speed = speed;
  for (const auto w : gpu.running) {
    if (!all && w != only) continue;
    Work& wk = work[w];
    ++wk.generation;
    const double ps = speed == 1.0 ? wk.remaining : std::round(wk.remaining / speed);
    queue.push(now + Time(static_cast<std::int64_t>(ps)), Event{EventType::compute_done, w, wk.generation});
  }
}

void Simulator::Impl::gpu_add(std::uint32_t i) {
  std::uint32_t w = 0;
  if (!free_work.empty()) {
    w = free_work.back();
    free_work.pop_back();
  } else {
    w = static_cast<std::uint32_t>(work.size());
    work.emplace_back();
  }
  const auto g = static_cast<std::uint32_t>(gpu_of_rank[ops[i].rank]);
  Work& wk = work[w];
  wk.remaining = static_cast<double>(ops[i].duration);
  wk.op = i;
  wk.gpu = g;
  wk.active = true;
  Gpu& gpu = gpus[g];
  gpu_advance(gpu);
  gpu.running.push_back(w);
  gpu_reschedule(gpu, w);
}

void Simulator::Impl::gpu_finish(const Event& ev) {
  Work& wk = work[ev.target];
  if (!wk.active || wk.generation != ev.generation) return;
  Gpu& gpu = gpus[wk.gpu];
  gpu_advance(gpu);
  const auto it = std::find(gpu.running.begin(), gpu.running.end(), ev.target);
  gpu.running.erase(it);  // keep order: rescheduling order stays deterministic and fair
  wk.active = false;
  ++wk.generation;
  free_work.push_back(ev.target);
  gpu_reschedule(gpu, kNone);
  complete(wk.op);
}

// Interference: while transfers of a GPU are in flight its kernels run `factor` times slower, factor
// being the largest of those transfers' factors (models::InterferenceModel::combine); progress made so
// far is kept, only the remaining work is re-timed.
void Simulator::Impl::gpu_transfers(std::int32_t g, double factor, bool begin) {
  Gpu& gpu = gpus[static_cast<std::size_t>(g)];
  if (begin) {
    gpu.transfers.push_back(factor);
  } else {
    gpu.transfers.erase(std::find(gpu.transfers.begin(), gpu.transfers.end(), factor));
  }
  double f = 1.0;
  for (const double x : gpu.transfers) f = std::max(f, x);
  if (f == gpu.factor) return;
  gpu_advance(gpu);
  gpu.factor = f;
  if (!gpu.running.empty()) gpu_reschedule(gpu, kNone);
}

void Simulator::Impl::report_stuck(const std::string& why) {
  std::vector<SimulationError::Waiter> waiters;
  std::vector<std::uint32_t> stalled = network.stalled_users();
  std::sort(stalled.begin(), stalled.end());
  auto op_name = [&](std::uint32_t gi) {
    return fmt::format("{} (phase {})", ir::kind_name(schedule.ranks[ops[gi].rank].ops[gi - rank_base[ops[gi].rank]].kind),
                       ops[gi].phase);
  };
  for (std::uint32_t r = 0; r + 1 < rank_base.size(); ++r) {
    for (std::size_t s = 0; s < kStreams; ++s) {
      const StreamState& st = streams[r * kStreams + s];
      if (st.busy > 0) {
        for (std::uint32_t k = st.launched; k < st.head; ++k) {
          const std::uint32_t gi = order[k];
          if (state[gi] == OpState::done) continue;
          const SimOp& op = ops[gi];
          std::string reason;
          if (state[gi] == OpState::issued) {
            const std::uint32_t p = op.partner;
            reason = fmt::format("{} posted, waiting for rank {} to issue its {} (op {})", op_name(gi), ops[p].rank,
                                 op.cls == OpClass::send ? "recv" : "send", p - rank_base[ops[p].rank]);
          } else if (std::binary_search(stalled.begin(), stalled.end(), op.cls == OpClass::send ? gi : op.partner)) {
            reason = fmt::format("{} in flight at zero bandwidth (a link on its path has no capacity)", op_name(gi));
          } else {
            reason = fmt::format("{} running", op_name(gi));
          }
          waiters.push_back({static_cast<std::int32_t>(r), gi - rank_base[r], std::move(reason)});
        }
      } else if (st.head < st.end) {
        const std::uint32_t gi = order[st.head];
        const SimOp& op = ops[gi];
        std::string missing;
        for (std::uint32_t k = 0; k < op.ndeps; ++k) {
          const std::uint32_t d = deps[op.deps_begin + k];
          if (state[d] != OpState::done) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", d - rank_base[r]);
        }
        waiters.push_back({static_cast<std::int32_t>(r), gi - rank_base[r],
                           fmt::format("{} not issued: waits for op(s) {}", op_name(gi), missing)});
      }
    }
  }
  throw SimulationError(fmt::format("{} at t = {:.6f} ms: {} of {} ops done; {} ops waiting", why,
                                    to_seconds(now) * 1e3, done, ops.size(), waiters.size()),
                        std::move(waiters));
}

SimResult Simulator::Impl::results() {
  SimResult res;
  const auto nranks = static_cast<std::int32_t>(schedule.ranks.size());
  res.ranks = nranks;
  res.ops = ops.size();
  res.events = events;
  res.recomputations = network.recomputations();
  for (const Time t : ended) res.total = std::max(res.total, t);
  {
    std::vector<std::int32_t> used(gpu_of_rank);
    std::sort(used.begin(), used.end());
    res.gpus_used = static_cast<std::int32_t>(std::unique(used.begin(), used.end()) - used.begin());
  }
  // Per-phase figures (see PhaseStats): step time uses the running maximum of op ends by phase, so the
  // steps of a rank add up to its finish time.
  std::uint32_t nphases = 0;
  for (const auto& op : ops) nphases = std::max(nphases, op.phase + 1);
  res.phases.resize(nphases);
  for (std::uint32_t p = 0; p < nphases; ++p) res.phases[p].phase = p;
  std::vector<Time> end_by_phase(nphases);
  std::vector<std::int64_t> compute_by_phase(nphases);
  std::vector<std::pair<Time, Time>> busy;                      // compute intervals of the rank
  std::vector<std::pair<std::uint32_t, std::pair<Time, Time>>> comm;  // (phase, transfer interval)
  std::vector<std::pair<Time, Time>> scratch;
  double comm_total = 0;
  double exposed_total = 0;
  for (std::int32_t r = 0; r < nranks; ++r) {
    std::fill(end_by_phase.begin(), end_by_phase.end(), Time{0});
    std::fill(compute_by_phase.begin(), compute_by_phase.end(), 0);
    busy.clear();
    comm.clear();
    for (std::uint32_t gi = rank_base[static_cast<std::size_t>(r)]; gi < rank_base[static_cast<std::size_t>(r) + 1]; ++gi) {
      const SimOp& op = ops[gi];
      end_by_phase[op.phase] = std::max(end_by_phase[op.phase], ended[gi]);
      if (op.cls == OpClass::gpu) {
        compute_by_phase[op.phase] += (ended[gi] - started[gi]).value;
        busy.emplace_back(started[gi], ended[gi]);
      } else if (op.cls == OpClass::send || op.cls == OpClass::recv) {
        comm.push_back({op.phase, {started[gi], ended[gi]}});
      }
    }
    merge_intervals(busy);
    std::sort(comm.begin(), comm.end());
    Time prev{0};
    for (std::uint32_t p = 0; p < nphases; ++p) {
      const Time e = std::max(prev, end_by_phase[p]);
      PhaseStats& ps = res.phases[p];
      ps.time = std::max(ps.time, e - prev);
      prev = e;
      ps.compute = std::max(ps.compute, Time(compute_by_phase[p]));
    }
    for (std::size_t a = 0; a < comm.size();) {
      std::size_t b = a;
      scratch.clear();
      while (b < comm.size() && comm[b].first == comm[a].first) scratch.push_back(comm[b++].second);
      merge_intervals(scratch);
      const std::int64_t len = interval_length(scratch);
      const std::int64_t exposed = len - overlap_length(scratch, busy);
      PhaseStats& ps = res.phases[comm[a].first];
      ps.comm = std::max(ps.comm, Time(len));
      ps.exposed_comm = std::max(ps.exposed_comm, Time(exposed));
      comm_total += static_cast<double>(len);
      exposed_total += static_cast<double>(exposed);
      a = b;
    }
  }
  res.overlap_pct = comm_total > 0 ? 100.0 * (1.0 - exposed_total / comm_total) : 0.0;
  res.single_gpu = single_gpu_time(schedule, cost);
  res.speedup = res.total.value > 0 ? res.single_gpu / res.total : 0.0;
  res.parallel_efficiency = nranks > 0 ? res.speedup / nranks : 0.0;  // as trace::summarize defines it
  res.peak_memory.reserve(static_cast<std::size_t>(nranks));
  for (std::int32_t r = 0; r < nranks; ++r) res.peak_memory.push_back(cost.peak_memory(schedule, r));
  res.links = network.usage(res.total);
  for (const auto& l : res.links) {
    const double u = res.total.value > 0 && l.capacity.value > 0
                         ? l.bytes / (l.capacity.value * to_seconds(res.total))
                         : 0.0;
    if (!res.busiest || u > res.busiest->utilisation) res.busiest = BusiestLink{l, u};
  }
  if (options.record_link_timeline) res.link_timeline = network.timeline();
  res.trace.source = "sim";
  if (options.record_trace) res.trace.schedule_hash = ir::schedule_hash(schedule);
  res.trace.ranks = nranks;
  if (options.record_trace) {
    res.trace.records.reserve(ops.size());
    for (std::int32_t r = 0; r < nranks; ++r) {
      const auto& prog = schedule.ranks[static_cast<std::size_t>(r)].ops;
      for (std::size_t k = 0; k < prog.size(); ++k) {
        const std::uint32_t gi = rank_base[static_cast<std::size_t>(r)] + static_cast<std::uint32_t>(k);
        trace::OpRecord rec;
        rec.rank = r;
        rec.op = static_cast<ir::OpId>(k);
        rec.phase = prog[k].phase;
        rec.stream = prog[k].stream;
        rec.kind = ir::kind_name(prog[k].kind);
        rec.start = issued[gi];
        rec.end = ended[gi];
        rec.flops = ir::op_flops(prog[k].kind);
        std::visit(
            [&](const auto& kind) {
              using K = std::decay_t<decltype(kind)>;
              if constexpr (std::is_same_v<K, ir::Send> || std::is_same_v<K, ir::Recv>) rec.bytes = kind.data.bytes;
              else if constexpr (std::is_same_v<K, ir::Copy> || std::is_same_v<K, ir::Reduce>) rec.bytes = kind.src.bytes;
            },
            prog[k].kind);
        res.trace.records.push_back(std::move(rec));
      }
    }
  }
  return res;
}

Simulator::Simulator(const ir::Schedule& schedule, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                     const CostModel& cost, SimOptions options)
    : impl_(std::make_unique<Impl>(schedule, platform, std::move(gpu_of_rank), cost, options)) {
  impl_->compile();
}

Simulator::~Simulator() = default;

SimResult Simulator::run() {
  Impl& s = *impl_;
  if (s.ran) throw Error("Simulator::run called twice");
  s.ran = true;
  s.queue.reserve(4 * s.schedule.ranks.size() + 16);
  for (std::uint32_t r = 0; r + 1 < s.rank_base.size(); ++r) s.try_issue(r);
  Event ev;
  Time t;
  for (;;) {
    if (s.network.dirty() && (s.queue.empty() || s.queue.top_time() > s.now)) {
      s.network.settle(s.now);  // all of this instant's starts and finishes, one recomputation
      continue;
    }
    if (s.queue.empty()) break;
    s.queue.pop(t, ev);
    s.now = t;
    ++s.events;
    if (s.options.time_limit.value > 0 && s.now > s.options.time_limit) s.report_stuck("time limit exceeded");
    switch (ev.type) {
      case EventType::compute_done:
        s.gpu_finish(ev);
        break;
      case EventType::timed_done:
        s.complete(ev.target);
        break;
      case EventType::flow_done: {
        std::uint32_t send = 0;
        if (s.network.complete(s.now, ev, send)) {
          const Price& pr = s.prices[static_cast<std::size_t>(s.ops[send].duration)];
          s.queue.push(s.now + pr.cost.fixed, Event{EventType::transfer_done, send, 0});
        }
        break;
      }
      case EventType::transfer_done:
        s.finish_transfer(ev.target);
        break;
    }
  }
  if (s.done != s.ops.size()) {
    s.report_stuck(s.network.active_flows() > 0 ? "stall: transfers make no progress" : "deadlock");
  }
  return s.results();
}

SimResult simulate(const ir::Schedule& schedule, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                   const CostModel& cost, SimOptions options) {
  Simulator sim(schedule, platform, std::move(gpu_of_rank), cost, options);
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
  const ir::Workload& w = schedule.workload;
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
    t += cost.op_time(one, 0, op);
  }
  if (bwd.value > 0) {
    ir::Op op;
    op.kind = ir::AttendGrad{q, kv, 2, 3, 4, 5, 6, 0, 0, heads, mask, bwd};
    t += cost.op_time(one, 0, op);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------
// SimpleCostModel

Time SimpleCostModel::op_time(const ir::Schedule& /*s*/, std::int32_t /*rank*/, const ir::Op& op) const {
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

Bytes SimpleCostModel::peak_memory(const ir::Schedule& s, std::int32_t rank) const {
  Bytes b{0};
  for (const auto& buf : s.ranks.at(static_cast<std::size_t>(rank)).buffers) b += buf.bytes;
  return b;
}

}  // namespace ringlab::sim
