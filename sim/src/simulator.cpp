#include "ringlab/sim/simulator.hpp"

#include "ringlab/core/intervals.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/sim/growable_array.hpp"
#include "ringlab/sim/short_list.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace ringlab::sim {

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t kStreams = 4;
constexpr double kPs = static_cast<double>(kPsPerSecond);
constexpr std::uint32_t kLookahead = 6;  // see Simulator::run

// How the interpreter executes an op.
enum class OpClass : std::uint8_t {
  gpu,    // kernel on a compute stream: shares the GPU's compute, slowed by interference
  timed,  // non-transfer op on a comm stream (copy engine): its model time, unshared
  send,   // one side of a rendezvous transfer
  recv,   // the other side
};
enum class OpState : std::uint8_t { pending, issued, running, done };

// The compiled form of one op and its times in one 48-byte record, so the interpreter touches one or
// two cache lines per op it looks at, and an op's neighbours in its rank and stream are the next
// records, not entries of other arrays (see docs/simulator.md, "scale"). Its state (OpState) is a
// byte of Impl::op_state instead: dependency checks read only that, and 64 ops' states share a line.
struct SimOp {
  Time issued;              // when its stream issued it (for gpu/timed ops also when it started)
  Time ended;               // when it finished
  std::int64_t x;           // gpu/timed: idle time in ps; send: when its transfer began (both sides
                            // issued; also its recv's start); recv: index of the transfer's price
  std::uint32_t deps;       // ndeps == 1: the dependency (global op index); else first of it in deps_
  std::uint32_t phase;
  std::uint32_t group;
  std::uint32_t partner;    // send/recv: global index of the matching op
  std::uint32_t rank;
  std::uint16_t ndeps;
  std::uint8_t bits;        // OpClass (bits 0-1), stream (2-3)
  std::uint8_t next_delta;  // next op of the same rank and stream is this many ops on (0: none;
                            // kFar: at least that far, search)

  [[nodiscard]] OpClass cls() const noexcept { return static_cast<OpClass>(bits & 3U); }
  [[nodiscard]] std::uint32_t stream() const noexcept { return (bits >> 2) & 3U; }
};
constexpr std::uint8_t kFar = 255;
static_assert(sizeof(SimOp) == 48);
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
  std::uint32_t head = kNone;      // next op to issue (kNone: none left)
  std::uint32_t launched = kNone;  // first op of the group in flight
  std::uint32_t busy = 0;          // ops of the launched group not yet done
  // A dependency of the head's group found not done (kNone: none known). Only its own completion can
  // change that, and it calls try_issue with it, so until then the stream is skipped without reading
  // the head's records (at large P each such read is a cache miss: a rank is revisited thousands of
  // events later).
  std::uint32_t blocker = kNone;
};

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
  std::uint32_t op = 0;
  EventQueue::Slot slot = 0;  // its compute_done event
  std::uint32_t gpu = 0;
  std::uint32_t rank = 0;
  bool active = false;
};

// A transfer in flight: what its flow_done and transfer_done events need, in a small table that stays
// in cache (its two ops' records, on two ranks, would be two cache misses per event at large P).
struct Transfer {
  std::uint32_t send = 0;
  std::uint32_t recv = 0;
  std::uint32_t price = 0;
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
  const ir::ScheduleSource& source;          // rank programs, read in turn by compile() (and again only
                                             // for the trace and error messages)
  const ir::Schedule& schedule;              // the header: everything but the ops
  const Platform& platform;
  std::vector<std::int32_t> gpu_of_rank;
  const CostModel& cost;
  SimOptions options;
  EventQueue queue;
  FlowNetwork network;

  std::vector<std::uint32_t> rank_base;  // global index of each rank's op 0; back() = total
  GrowableArray<SimOp> ops;
  std::vector<std::uint32_t> deps;       // dependencies of ops with more than one (global op indices)
  std::vector<StreamState> streams;      // rank * kStreams + stream
  // Compile-time only: each rank's sends then recvs (global op indices), from comm_begin[r]; sends in
  // issue order, recvs sorted by (source rank, tag, index) for matching.
  std::vector<std::uint32_t> comm;
  std::vector<std::uint32_t> comm_begin;  // per rank: first send; recvs from recv_begin[r]
  std::vector<std::uint32_t> recv_begin;
  std::vector<Price> prices;
  std::vector<Gpu> gpus;
  std::vector<Work> work;
  std::vector<std::uint32_t> free_work;
  std::vector<Transfer> transfers;  // flows' users and transfer_done targets
  std::vector<std::uint32_t> free_transfers;
  // Each op's state, one byte per op beside the copy in its record: a rank's current ops share a
  // line here, so checking a peer's side of a rendezvous or an op's dependencies rarely misses. On
  // huge pages like the records (every rank's line is in use at once). Fresh pages read as pending.
  GrowableArray<std::uint8_t> op_state;
  Time now{0};
  std::uint64_t done = 0;
  std::uint64_t events = 0;
  std::vector<Bytes> peak_memory;  // per rank, priced while compile() has its program
  std::string schedule_hash;       // when recording the trace: hashed while compile() reads the ranks
  Flops attend_flops{0};       // sum over Attend ops (for single_gpu_time, without another IR pass)
  Flops attend_grad_flops{0};  // sum over AttendGrad ops
  bool ran = false;

  void compile();
  void match();
  [[noreturn]] void match_legacy();
  void price_transfers();
  void try_issue(std::uint32_t rank, std::uint32_t completed);
  void launch(std::uint32_t i);
  void begin_transfer(std::uint32_t send);
  void finish_transfer(std::uint32_t t);
  void set_state(std::uint32_t i, OpState st) noexcept { op_state[i] = static_cast<std::uint8_t>(st); }
  [[nodiscard]] OpState state(std::uint32_t i) const noexcept { return static_cast<OpState>(op_state[i]); }
  [[nodiscard]] bool is_done(std::uint32_t i) const noexcept {
    return op_state[i] == static_cast<std::uint8_t>(OpState::done);
  }
  void complete(std::uint32_t i);
  void gpu_add(std::uint32_t i);
  void gpu_finish(const Event& ev);
  void gpu_transfers(std::int32_t g, double factor, bool begin);
  void gpu_advance(Gpu& gpu);
  void gpu_reschedule(Gpu& gpu, std::uint32_t only);
  // A dependency of `op` not done yet (kNone: all done).
  [[nodiscard]] std::uint32_t pending_dep(const SimOp& op) const noexcept {
    if (op.ndeps == 1) return is_done(op.deps) ? kNone : op.deps;
    for (std::uint32_t k = 0; k < op.ndeps; ++k) {
      const std::uint32_t d = deps[op.deps + k];
      if (!is_done(d)) return d;
    }
    return kNone;
  }
  // The op after `i` on its rank's stream (kNone: none).
  [[nodiscard]] std::uint32_t next_of(std::uint32_t i) const noexcept {
    const SimOp& op = ops[i];
    if (op.next_delta != kFar) return op.next_delta == 0 ? kNone : i + op.next_delta;
    const std::uint32_t end = rank_base[op.rank + 1];
    for (std::uint32_t j = i + kFar; j < end; ++j) {
      if (ops[j].stream() == op.stream()) return j;
    }
    return kNone;  // not reached: compile() saw one
  }
  [[nodiscard]] std::uint32_t dep(const SimOp& op, std::uint32_t k) const noexcept {
    return op.ndeps == 1 ? op.deps : deps[op.deps + k];
  }
  [[noreturn]] void report_stuck(const std::string& why);
  // Starts loading what an upcoming event will touch while this one is handled: at large P every
  // event is about another rank, whose state has left the cache since that rank's last event. The
  // ops it completes and the next records of their ranks (the stream heads they will issue from),
  // their state bytes and streams, the GPUs whose compute it changes. Only what the small hot tables
  // (work items, transfers, prices) locate: chasing a cold record here would stall now instead.
  void prefetch_for(const Event& next) const noexcept {
    auto op_and_next = [&](std::uint32_t i) {
      __builtin_prefetch(&ops[i]);
      const auto end = reinterpret_cast<std::uintptr_t>(ops.data() + ops.size());
      const auto p = reinterpret_cast<std::uintptr_t>(&ops[i]) + 64;
      if (p < end) __builtin_prefetch(reinterpret_cast<const void*>(p));
      __builtin_prefetch(&op_state[i]);
    };
    auto gpu = [&](std::size_t g) {
      __builtin_prefetch(&gpus[g]);
      __builtin_prefetch(reinterpret_cast<const char*>(&gpus[g]) + 64);
    };
    switch (next.type) {
      case EventType::timed_done:
        op_and_next(next.target);
        break;
      case EventType::transfer_done: {
        const Transfer& x = transfers[next.target];
        op_and_next(x.send);
        op_and_next(x.recv);
        const Price& pr = prices[x.price];
        gpu(static_cast<std::size_t>(pr.src_gpu));
        gpu(static_cast<std::size_t>(pr.dst_gpu));
        break;
      }
      case EventType::compute_done: {
        const Work& wk = work[next.target];
        op_and_next(wk.op);
        gpu(wk.gpu);
        __builtin_prefetch(&streams[wk.rank * kStreams]);
        break;
      }
      case EventType::flow_done:
        break;
    }
  }
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
  constexpr const char* kTooLarge = "schedule too large for the simulator (2^32 ops)";
  rank_base.assign(nranks + 1, 0);
  streams.assign(nranks * kStreams, StreamState{});
  gpus.resize(static_cast<std::size_t>(platform.gpu_count()));
  comm_begin.assign(nranks + 1, 0);
  recv_begin.assign(nranks, 0);
  peak_memory.reserve(nranks);

  // One pass over the IR. A send's or recv's peer, bytes and tag wait in its (still unused) issued,
  // ended and x fields until match() and price_transfers() have consumed them.
  const auto peers = static_cast<std::int64_t>(nranks);
  std::uint64_t total_deps = 0;
  bool bad_peer = false;
  std::vector<std::uint32_t> rank_recvs;
  std::optional<ir::ScheduleHasher> hasher;
  if (options.record_trace) hasher.emplace(schedule);
  ir::RankProgram scratch;
  for (std::size_t r = 0; r < nranks; ++r) {
    const ir::RankProgram& program = source.rank(r, scratch);
    const auto& prog = program.ops;
    if (ops.size() + prog.size() >= kNone) throw ValidationError(kTooLarge);
    const auto base = static_cast<std::uint32_t>(ops.size());
    rank_base[r] = base;
    peak_memory.push_back(cost.peak_memory(schedule.workload, program));
    if (hasher) hasher->add_rank(program);
    comm_begin[r] = static_cast<std::uint32_t>(comm.size());
    rank_recvs.clear();
    std::array<std::uint32_t, kStreams> last{};
    last.fill(kNone);
    for (std::size_t k = 0; k < prog.size(); ++k) {
      const ir::Op& op = prog[k];
      if (op.id != k) throw ValidationError(fmt::format("rank {} op {} has id {}", r, k, op.id));
      const auto stream = static_cast<std::size_t>(op.stream);
      if (stream >= kStreams) throw ValidationError(fmt::format("rank {} op {}: bad stream", r, k));
      if (op.deps.size() > 0xffff) throw ValidationError(fmt::format("rank {} op {}: too many dependencies", r, k));
      const std::uint32_t gi = base + static_cast<std::uint32_t>(k);
      SimOp& so = ops.append();
      so.partner = kNone;
      so.rank = static_cast<std::uint32_t>(r);
      so.phase = op.phase;
      so.group = op.group;
      OpClass cls = OpClass::gpu;
      so.ndeps = static_cast<std::uint16_t>(op.deps.size());
      total_deps += op.deps.size();
      if (total_deps >= kNone) throw ValidationError(kTooLarge);
      if (so.ndeps == 1) {
        const auto d = op.deps[0];
        if (d >= prog.size()) throw ValidationError(fmt::format("rank {} op {} depends on missing op {}", r, k, d));
        so.deps = base + d;
      } else {
        so.deps = static_cast<std::uint32_t>(deps.size());
        for (const auto d : op.deps) {
          if (d >= prog.size()) throw ValidationError(fmt::format("rank {} op {} depends on missing op {}", r, k, d));
          deps.push_back(base + d);
        }
      }
      if (const auto* snd = std::get_if<ir::Send>(&op.kind)) {
        cls = OpClass::send;
        so.issued = Time(snd->peer);
        so.ended = Time(snd->data.bytes.value);
        so.x = snd->tag;
        bad_peer = bad_peer || snd->peer < 0 || snd->peer >= peers;
        comm.push_back(gi);
      } else if (const auto* rcv = std::get_if<ir::Recv>(&op.kind)) {
        cls = OpClass::recv;
        so.issued = Time(rcv->peer);
        so.ended = Time(rcv->data.bytes.value);
        so.x = rcv->tag;
        bad_peer = bad_peer || rcv->peer < 0 || rcv->peer >= peers;
        rank_recvs.push_back(gi);
      } else {
        if (const auto* a = std::get_if<ir::Attend>(&op.kind)) attend_flops += a->flops;
        else if (const auto* g = std::get_if<ir::AttendGrad>(&op.kind)) attend_grad_flops += g->flops;
        const bool compute_stream = op.stream == ir::Stream::compute || op.stream == ir::Stream::compute_aux;
        cls = compute_stream ? OpClass::gpu : OpClass::timed;
        so.x = cost.op_time(schedule.workload, program, op).value;
        if (so.x < 0) throw ValidationError(fmt::format("rank {} op {}: negative op time", r, k));
      }
      so.bits = static_cast<std::uint8_t>(static_cast<unsigned>(cls) | stream << 2);
      if (last[stream] != kNone) {
        const std::uint32_t delta = gi - last[stream];
        ops[last[stream]].next_delta = static_cast<std::uint8_t>(std::min<std::uint32_t>(delta, kFar));
      } else {
        streams[r * kStreams + stream].head = gi;
      }
      last[stream] = gi;
    }
    recv_begin[r] = static_cast<std::uint32_t>(comm.size());
    comm.insert(comm.end(), rank_recvs.begin(), rank_recvs.end());
  }
  rank_base[nranks] = static_cast<std::uint32_t>(ops.size());
  if (hasher) schedule_hash = hasher->value();
  comm_begin[nranks] = static_cast<std::uint32_t>(comm.size());
  if (bad_peer) match_legacy();  // names the first bad peer, as it always did
  match();
  price_transfers();
  comm = {};
  comm_begin = {};
  recv_begin = {};
}

// Pairs every send with its recv: the k-th send from a to b with tag t matches the k-th recv on b
// from a with tag t (issue order). Each rank's recvs are sorted by (source, tag, index) (already so
// for generated schedules), then each run of a rank's sends to one peer is matched against that
// peer's run of recvs from it: linear, no global sort. Any mismatch defers to match_legacy(), which
// names the culprit exactly as before.
void Simulator::Impl::match() {
  const auto nranks = schedule.ranks.size();
  auto peer = [this](std::uint32_t gi) { return ops[gi].issued.value; };
  auto tag = [this](std::uint32_t gi) { return ops[gi].x; };
  auto before = [this](std::uint32_t a, std::uint32_t b) {
    const SimOp& u = ops[a];
    const SimOp& v = ops[b];
    if (u.issued.value != v.issued.value) return u.issued.value < v.issued.value;
    if (u.x != v.x) return u.x < v.x;
    return a < b;
  };
  std::uint32_t* const c = comm.data();
  for (std::size_t r = 0; r < nranks; ++r) {
    std::uint32_t* b = c + recv_begin[r];
    std::uint32_t* e = c + comm_begin[r + 1];
    if (!std::is_sorted(b, e, before)) std::sort(b, e, before);
  }
  std::vector<std::uint32_t> scratch;
  std::uint64_t matched = 0;
  for (std::size_t s = 0; s < nranks; ++s) {
    const std::uint32_t* sb = c + comm_begin[s];
    const std::uint32_t* se = c + recv_begin[s];
    if (!std::is_sorted(sb, se, before)) {
      scratch.assign(sb, se);
      std::sort(scratch.begin(), scratch.end(), before);
      sb = scratch.data();
      se = sb + scratch.size();
    }
    const auto src = static_cast<std::int64_t>(s);
    for (const std::uint32_t* i = sb; i != se;) {
      const std::int64_t d = peer(*i);
      const std::uint32_t* j = i;
      while (j != se && peer(*j) == d) ++j;
      const std::uint32_t* rb = c + recv_begin[static_cast<std::size_t>(d)];
      const std::uint32_t* re = c + comm_begin[static_cast<std::size_t>(d) + 1];
      const std::uint32_t* lo = std::partition_point(rb, re, [&](std::uint32_t g) { return peer(g) < src; });
      const std::uint32_t* hi = std::partition_point(lo, re, [&](std::uint32_t g) { return peer(g) == src; });
      if (hi - lo != j - i) match_legacy();
      for (std::ptrdiff_t k = 0; k < j - i; ++k) {
        if (tag(i[k]) != tag(lo[k])) match_legacy();
        ops[i[k]].partner = lo[k];
        ops[lo[k]].partner = i[k];
      }
      matched += static_cast<std::uint64_t>(j - i);
      i = j;
    }
  }
  if (comm.size() - matched != matched) match_legacy();  // every send is matched: is every recv?
}

// The original global sort-merge matching, kept to report errors (bad peers, unmatched sends or
// recvs) with the same message and precedence as before.
void Simulator::Impl::match_legacy() {
  std::vector<MatchKey> sends;
  std::vector<MatchKey> recvs;
  const auto nranks = static_cast<std::int64_t>(schedule.ranks.size());
  ir::RankProgram scratch;
  for (std::size_t r = 0; r < schedule.ranks.size(); ++r) {
    const auto& prog = source.rank(r, scratch).ops;
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
  throw Error("simulator: internal error: send/recv matching disagrees with its check");
}

void Simulator::Impl::price_transfers() {
  std::unordered_map<std::uint64_t, PathId> paths;  // src gpu << 32 | dst gpu
  std::map<std::pair<PathId, std::int64_t>, std::uint32_t> by_bytes;
  std::vector<topology::Route> routes;
  // The last price found: a rank's sends mostly go to one peer with one size (a ring's always do).
  std::int32_t last_src = -1;
  std::int32_t last_dst = -1;
  std::int64_t last_bytes = -1;
  std::uint32_t last_price = 0;
  for (std::size_t r = 0; r < schedule.ranks.size(); ++r) {
    for (std::uint32_t c = comm_begin[r]; c < recv_begin[r]; ++c) {  // sends, in issue order
      const std::uint32_t gi = comm[c];
      SimOp& so = ops[gi];
      SimOp& rv = ops[so.partner];
      const std::int64_t bytes = so.ended.value;
      const auto peer = static_cast<std::size_t>(so.issued.value);
      if (rv.ended.value != bytes) {
        throw ValidationError(fmt::format("rank {} op {} sends {} bytes but rank {} op {} receives {}", r,
                                          gi - rank_base[r], bytes, rv.rank, so.partner - rank_base[rv.rank],
                                          rv.ended.value));
      }
      so.issued = so.ended = rv.issued = rv.ended = Time{0};
      so.x = 0;
      const std::int32_t src = gpu_of_rank[r];
      const std::int32_t dst = gpu_of_rank[peer];
      if (src == last_src && dst == last_dst && bytes == last_bytes) {
        rv.x = last_price;
        continue;
      }
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
      rv.x = pit->second;
      last_src = src;
      last_dst = dst;
      last_bytes = bytes;
      last_price = pit->second;
    }
  }
}

// `completed`: the op whose completion calls this (kNone: none), the only one that can unblock a stream.
void Simulator::Impl::try_issue(std::uint32_t rank, std::uint32_t completed) {
  for (std::size_t s = 0; s < kStreams; ++s) {
    StreamState& st = streams[rank * kStreams + s];
    while (st.busy == 0 && st.head != kNone) {
      if (st.blocker != kNone && st.blocker != completed) break;
      const SimOp& first = ops[st.head];
      std::uint32_t n = 1;
      std::uint32_t after = next_of(st.head);  // first op past the group
      std::uint32_t blocker = pending_dep(first);
      if (first.group != 0) {
        while (blocker == kNone && after != kNone && ops[after].group == first.group) {
          blocker = pending_dep(ops[after]);
          ++n;
          after = next_of(after);
        }
      }
      st.blocker = blocker;
      if (blocker != kNone) break;
      st.busy = n;
      st.launched = st.head;
      st.head = after;
      // This rank's next ops are looked at when one of these completes, thousands of events from now
      // at large P: fetch them meanwhile (each op's first touch would otherwise be a DRAM miss).
      // The next group and the op that ends it (its scan reads one past it) lie within the next few
      // records: a rank's program is contiguous, four ops (three lines) a ring step.
      if (after != kNone) {
        const auto end = reinterpret_cast<std::uintptr_t>(ops.data() + ops.size());
        auto p = reinterpret_cast<std::uintptr_t>(&ops[after]);
        for (int k = 0; k < 4 && p < end; ++k, p += 64) __builtin_prefetch(reinterpret_cast<const void*>(p));
      }
      std::uint32_t i = st.launched;
      for (std::uint32_t k = 0; k < n; ++k) {
        const std::uint32_t following = next_of(i);
        launch(i);
        i = following;
      }
    }
  }
}

void Simulator::Impl::launch(std::uint32_t i) {
  SimOp& op = ops[i];
  op.issued = now;
  switch (op.cls()) {
    case OpClass::gpu:
      set_state(i, OpState::running);
      if (op.x == 0) {
        queue.push(now, Event{EventType::timed_done, i});
      } else {
        gpu_add(i);
      }
      break;
    case OpClass::timed:
      set_state(i, OpState::running);
      queue.push(now + Time(op.x), Event{EventType::timed_done, i});
      break;
    case OpClass::send:
    case OpClass::recv:
      set_state(i, OpState::issued);
      if (op_state[op.partner] == static_cast<std::uint8_t>(OpState::issued)) {
        begin_transfer(op.cls() == OpClass::send ? i : op.partner);
      }
      break;
  }
}

void Simulator::Impl::begin_transfer(std::uint32_t send) {
  SimOp& so = ops[send];
  const std::uint32_t recv = so.partner;
  set_state(send, OpState::running);
  set_state(recv, OpState::running);
  so.x = now.value;  // when both began
  const auto price = static_cast<std::uint32_t>(ops[recv].x);
  const std::uint32_t t = reuse_or_add(free_transfers, transfers);
  transfers[t] = Transfer{send, recv, price};
  const Price& pr = prices[price];
  gpu_transfers(pr.src_gpu, pr.interference, true);
  if (pr.dst_gpu != pr.src_gpu) gpu_transfers(pr.dst_gpu, pr.interference, true);
  if (pr.cost.wire_bytes.value > 0) {
    network.start(now, pr.path, static_cast<double>(pr.cost.wire_bytes.value), pr.cost.max_rate, t);
  } else {
    queue.push(now + pr.cost.fixed, Event{EventType::transfer_done, t});
  }
}

void Simulator::Impl::finish_transfer(std::uint32_t t) {
  const Transfer x = transfers[t];
  free_transfers.push_back(t);
  const Price& pr = prices[x.price];
  gpu_transfers(pr.src_gpu, pr.interference, false);
  if (pr.dst_gpu != pr.src_gpu) gpu_transfers(pr.dst_gpu, pr.interference, false);
  complete(x.send);
  complete(x.recv);
}

void Simulator::Impl::complete(std::uint32_t i) {
  SimOp& op = ops[i];
  set_state(i, OpState::done);
  op.ended = now;
  ++done;
  --streams[op.rank * kStreams + op.stream()].busy;
  try_issue(op.rank, i);
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
    const double ps = speed == 1.0 ? wk.remaining : std::round(wk.remaining / speed);
    queue.schedule(wk.slot, now + Time(static_cast<std::int64_t>(ps)), Event{EventType::compute_done, w});
  }
}

void Simulator::Impl::gpu_add(std::uint32_t i) {
  const std::size_t before = work.size();
  const std::uint32_t w = reuse_or_add(free_work, work);
  if (work.size() > before) work.back().slot = queue.add_slot();  // a new item: its own event slot
  const auto g = static_cast<std::uint32_t>(gpu_of_rank[ops[i].rank]);
  Work& wk = work[w];
  wk.remaining = static_cast<double>(ops[i].x);
  wk.op = i;
  wk.gpu = g;
  wk.rank = ops[i].rank;
  wk.active = true;
  Gpu& gpu = gpus[g];
  gpu_advance(gpu);
  gpu.running.push_back(w);
  gpu_reschedule(gpu, w);
}

void Simulator::Impl::gpu_finish(const Event& ev) {
  Work& wk = work[ev.target];
  if (!wk.active) return;  // not reached: a work item's event is moved, never left stale
  Gpu& gpu = gpus[wk.gpu];
  gpu_advance(gpu);
  const auto it = std::find(gpu.running.begin(), gpu.running.end(), ev.target);
  gpu.running.erase(it);  // keep order: rescheduling order stays deterministic and fair
  wk.active = false;
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
  std::vector<std::uint32_t> stalled = network.stalled_users();  // transfers; their sends:
  for (auto& u : stalled) u = transfers[u].send;
  std::sort(stalled.begin(), stalled.end());
  ir::RankProgram scratch;
  const ir::RankProgram* program = nullptr;  // of rank r, read when one of its ops is named
  std::uint32_t r = 0;
  auto op_name = [&](std::uint32_t gi) {
    if (program == nullptr) program = &source.rank(r, scratch);
    return fmt::format("{} (phase {})", ir::kind_name(program->ops.at(gi - rank_base[r]).kind), ops[gi].phase);
  };
  for (r = 0; r + 1 < rank_base.size(); ++r) {
    program = nullptr;
    for (std::size_t s = 0; s < kStreams; ++s) {
      const StreamState& st = streams[r * kStreams + s];
      if (st.busy > 0) {
        for (std::uint32_t gi = st.launched; gi != st.head; gi = next_of(gi)) {
          const SimOp& op = ops[gi];
          if (state(gi) == OpState::done) continue;
          std::string reason;
          if (state(gi) == OpState::issued) {
            const std::uint32_t p = op.partner;
            reason = fmt::format("{} posted, waiting for rank {} to issue its {} (op {})", op_name(gi), ops[p].rank,
                                 op.cls() == OpClass::send ? "recv" : "send", p - rank_base[ops[p].rank]);
          } else if (std::binary_search(stalled.begin(), stalled.end(), op.cls() == OpClass::send ? gi : op.partner)) {
            reason = fmt::format("{} in flight at zero bandwidth (a link on its path has no capacity)", op_name(gi));
          } else {
            reason = fmt::format("{} running", op_name(gi));
          }
          waiters.push_back({static_cast<std::int32_t>(r), gi - rank_base[r], std::move(reason)});
        }
      } else if (st.head != kNone) {
        const std::uint32_t gi = st.head;
        const SimOp& op = ops[gi];
        std::string missing;
        for (std::uint32_t k = 0; k < op.ndeps; ++k) {
          const std::uint32_t d = dep(op, k);
          if (state(d) != OpState::done) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", d - rank_base[r]);
        }
        waiters.push_back({static_cast<std::int32_t>(r), gi - rank_base[r],
                           fmt::format("{} not issued: waits for op(s) {}", op_name(gi), missing)});
      }
    }
  }
  // Format before moving the list: argument evaluation order is unspecified.
  auto message = fmt::format("{} at t = {:.6f} ms: {} of {} ops done; {} ops waiting", why, to_seconds(now) * 1e3,
                             done, ops.size(), waiters.size());
  throw SimulationError(std::move(message), std::move(waiters));
}

SimResult Simulator::Impl::results() {
  SimResult res;
  const auto nranks = static_cast<std::int32_t>(schedule.ranks.size());
  res.ranks = nranks;
  res.ops = ops.size();
  res.events = events;
  res.recomputations = network.recomputations();
  for (std::size_t i = 0; i < ops.size(); ++i) res.total = std::max(res.total, ops[i].ended);
  {
    std::vector<std::int32_t> used(gpu_of_rank);
    std::sort(used.begin(), used.end());
    res.gpus_used = static_cast<std::int32_t>(std::unique(used.begin(), used.end()) - used.begin());
  }
  // Per-phase figures (see PhaseStats): step time uses the running maximum of op ends by phase, so the
  // steps of a rank add up to its finish time.
  std::uint32_t nphases = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) nphases = std::max(nphases, ops[i].phase + 1);
  res.phases.resize(nphases);
  for (std::uint32_t p = 0; p < nphases; ++p) res.phases[p].phase = p;
  std::vector<Time> end_by_phase(nphases);
  std::vector<std::int64_t> compute_by_phase(nphases);
  std::vector<std::pair<Time, Time>> busy;                      // compute intervals of the rank
  std::vector<std::pair<std::uint32_t, std::pair<Time, Time>>> xfers;  // (phase, transfer interval)
  std::vector<std::pair<Time, Time>> scratch;
  double comm_total = 0;
  double exposed_total = 0;
  for (std::int32_t r = 0; r < nranks; ++r) {
    std::fill(end_by_phase.begin(), end_by_phase.end(), Time{0});
    std::fill(compute_by_phase.begin(), compute_by_phase.end(), 0);
    busy.clear();
    xfers.clear();
    for (std::uint32_t gi = rank_base[static_cast<std::size_t>(r)]; gi < rank_base[static_cast<std::size_t>(r) + 1]; ++gi) {
      const SimOp& op = ops[gi];
      end_by_phase[op.phase] = std::max(end_by_phase[op.phase], op.ended);
      if (op.cls() == OpClass::gpu) {
        compute_by_phase[op.phase] += (op.ended - op.issued).value;
        busy.emplace_back(op.issued, op.ended);
      } else if (op.cls() == OpClass::send || op.cls() == OpClass::recv) {
        const Time began(op.cls() == OpClass::send ? op.x : ops[op.partner].x);
        xfers.push_back({op.phase, {began, op.ended}});
      }
    }
    merge_intervals(busy);
    // Grouped by phase in ascending order is all that is needed (each group is sorted when merged);
    // issue order usually is.
    if (!std::is_sorted(xfers.begin(), xfers.end(), [](const auto& a, const auto& b) { return a.first < b.first; })) {
      std::sort(xfers.begin(), xfers.end());
    }
    Time prev{0};
    for (std::uint32_t p = 0; p < nphases; ++p) {
      const Time e = std::max(prev, end_by_phase[p]);
      PhaseStats& ps = res.phases[p];
      ps.time = std::max(ps.time, e - prev);
      prev = e;
      ps.compute = std::max(ps.compute, Time(compute_by_phase[p]));
    }
    std::size_t hint = 0;
    for (std::size_t a = 0; a < xfers.size();) {
      std::size_t b = a;
      scratch.clear();
      while (b < xfers.size() && xfers[b].first == xfers[a].first) scratch.push_back(xfers[b++].second);
      merge_intervals(scratch);
      const std::int64_t len = interval_length(scratch);
      const std::int64_t exposed = len - overlap_length(scratch, busy, hint);
      PhaseStats& ps = res.phases[xfers[a].first];
      ps.comm = std::max(ps.comm, Time(len));
      ps.exposed_comm = std::max(ps.exposed_comm, Time(exposed));
      comm_total += static_cast<double>(len);
      exposed_total += static_cast<double>(exposed);
      a = b;
    }
  }
  res.overlap_pct = comm_total > 0 ? 100.0 * (1.0 - exposed_total / comm_total) : 0.0;
  res.single_gpu = single_gpu_time_of(schedule.workload, attend_flops, attend_grad_flops, cost);
  res.speedup = res.total.value > 0 ? res.single_gpu / res.total : 0.0;
  res.parallel_efficiency = nranks > 0 ? res.speedup / nranks : 0.0;  // as trace::summarize defines it
  res.peak_memory.reserve(static_cast<std::size_t>(nranks));
  res.peak_memory = peak_memory;
  res.links = network.usage(res.total);
  for (const auto& l : res.links) {
    const double u = res.total.value > 0 && l.capacity.value > 0
                         ? l.bytes / (l.capacity.value * to_seconds(res.total))
                         : 0.0;
    if (!res.busiest || u > res.busiest->utilisation) res.busiest = BusiestLink{l, u};
  }
  if (options.record_link_timeline) res.link_timeline = network.timeline();
  res.trace.source = "sim";
  res.trace.schedule_hash = schedule_hash;
  res.trace.ranks = nranks;
  if (options.record_trace) {
    res.trace.records.reserve(ops.size());
    ir::RankProgram program;
    for (std::int32_t r = 0; r < nranks; ++r) {
      const auto& prog = source.rank(static_cast<std::size_t>(r), program).ops;
      for (std::size_t k = 0; k < prog.size(); ++k) {
        const std::uint32_t gi = rank_base[static_cast<std::size_t>(r)] + static_cast<std::uint32_t>(k);
        trace::OpRecord rec;
        rec.rank = r;
        rec.op = static_cast<ir::OpId>(k);
        rec.phase = prog[k].phase;
        rec.stream = prog[k].stream;
        rec.kind = ir::kind_name(prog[k].kind);
        rec.start = ops[gi].issued;
        rec.end = ops[gi].ended;
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
                     const CostModel& cost, SimOptions options) {
  auto stored = std::make_unique<ir::StoredSource>(schedule);
  const ir::ScheduleSource& src = *stored;
  impl_ = std::make_unique<Impl>(src, std::move(stored), platform, std::move(gpu_of_rank), cost, options);
  impl_->compile();
}

Simulator::Simulator(const ir::ScheduleSource& source, const Platform& platform, std::vector<std::int32_t> gpu_of_rank,
                     const CostModel& cost, SimOptions options)
    : impl_(std::make_unique<Impl>(source, nullptr, platform, std::move(gpu_of_rank), cost, options)) {
  impl_->compile();
}

Simulator::~Simulator() = default;

SimResult Simulator::run() {
  Impl& s = *impl_;
  if (s.ran) throw Error("Simulator::run called twice");
  s.ran = true;
  s.queue.reserve(4 * s.schedule.ranks.size() + 16);
  static_assert(static_cast<int>(OpState::pending) == 0);
  s.op_state.resize(s.ops.size());
  for (std::uint32_t r = 0; r + 1 < s.rank_base.size(); ++r) s.try_issue(r, kNone);
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
    if (!s.queue.empty()) s.prefetch_for(s.queue.peek());
    // An event a few places behind this one in the FIFO it came from pops at least that many events
    // from now (the lanes' events often come in bursts of one instant, so not many more): far enough
    // ahead for its data to arrive, near enough for it to stay. Each is fetched once, as it enters
    // that window; and the FIFO's new head too, in case it arrived there too late for that (a short
    // FIFO: it pops after about as many events as there are busy FIFOs).
    if (Event up; s.queue.upcoming(kLookahead, up)) s.prefetch_for(up);
    if (Event up; s.queue.upcoming(0, up)) s.prefetch_for(up);
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
        std::uint32_t xfer = 0;
        if (s.network.complete(s.now, ev, xfer)) {
          const Price& pr = s.prices[s.transfers[xfer].price];
          s.queue.push(s.now + pr.cost.fixed, Event{EventType::transfer_done, xfer});
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

Bytes SimpleCostModel::peak_memory(const ir::Workload& /*w*/, const ir::RankProgram& rank) const {
  Bytes b{0};
  for (const auto& buf : rank.buffers) b += buf.bytes;
  return b;
}

}  // namespace ringlab::sim
