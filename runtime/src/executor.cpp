#include "ringlab/runtime/executor.hpp"

#include <fmt/format.h>

#include <array>
#include <mutex>
#include <variant>
#include <vector>

#include "ringlab/ir/serialize.hpp"

namespace ringlab::runtime {

namespace {

constexpr std::size_t kStreams = 4;

/// Launches an op on the backend: the one place that dispatches on the op kind.
struct Launch {
  Backend& b;
  std::int32_t rank;
  ir::OpId id;
  void operator()(const ir::Attend& o) const { b.attend(rank, id, o); }
  void operator()(const ir::AttendGrad& o) const { b.attend_grad(rank, id, o); }
  void operator()(const ir::Merge& o) const { b.merge(rank, id, o); }
  void operator()(const ir::Send& o) const { b.post_send(rank, id, o); }
  void operator()(const ir::Recv& o) const { b.post_recv(rank, id, o); }
  void operator()(const ir::Copy& o) const { b.copy(rank, id, o); }
  void operator()(const ir::Reduce& o) const { b.reduce(rank, id, o); }
  void operator()(const ir::Gemm& o) const { b.gemm(rank, id, o); }
};

/// Bytes an op moves, as trace records count them.
struct MovedBytes {
  Bytes operator()(const ir::Send& o) const { return o.data.bytes; }
  Bytes operator()(const ir::Recv& o) const { return o.data.bytes; }
  Bytes operator()(const ir::Copy& o) const { return o.dst.bytes; }
  template <class T>
  Bytes operator()(const T&) const {
    return Bytes{0};
  }
};

bool is_transfer(const ir::Op& op) {
  return std::holds_alternative<ir::Send>(op.kind) || std::holds_alternative<ir::Recv>(op.kind);
}

/// Walks one rank's program: which ops are launched and finished, and the stream heads.
class RankWalker {
 public:
  RankWalker(const ir::Schedule& s, Backend& b, std::int32_t rank, Time timeout)
      : prog_(s.ranks[static_cast<std::size_t>(rank)]), backend_(b), rank_(rank), timeout_(timeout) {
    const auto n = prog_.ops.size();
    launched_.assign(n, 0);
    done_.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& op = prog_.ops[i];
      if (op.id != i) {
        throw ValidationError(fmt::format("rank {}: op at index {} has id {} (ids must be dense)", rank_, i, op.id));
      }
      for (const auto d : op.deps) {
        if (d >= op.id) {
          throw ValidationError(fmt::format("rank {} {}: depends on op {}, which is not an earlier op", rank_,
                                            describe_op(op), d));
        }
      }
      const auto s_index = static_cast<std::size_t>(op.stream);
      if (s_index >= kStreams) throw ValidationError(fmt::format("rank {} {}: unknown stream", rank_, describe_op(op)));
      streams_[s_index].push_back(op.id);
    }
  }

  void run() {
    const std::size_t n = prog_.ops.size();
    while (finished_ < n) {
      bool progress = poll();
      // Post ready transfer units first (non-blocking), then run at most one compute unit, so a
      // rank's sends and recvs are out before it spends time computing.
      for (std::size_t s = 0; s < kStreams; ++s) progress |= try_launch(s, /*transfers_only=*/true);
      for (std::size_t s = 0; s < kStreams; ++s) {
        if (try_launch(s, /*transfers_only=*/false)) {
          progress = true;
          break;
        }
      }
      if (progress || finished_ == n) continue;
      std::vector<ir::OpId> pending;
      for (std::size_t i = 0; i < n; ++i)
        if (launched_[i] != 0 && done_[i] == 0) pending.push_back(static_cast<ir::OpId>(i));
      if (pending.empty()) throw ValidationError(stuck_message());
      if (!backend_.wait_any(rank_, pending, timeout_)) {
        std::string what;
        for (const auto id : pending) what += fmt::format("{}{}", what.empty() ? "" : ", ", describe_op(prog_.ops[id]));
        throw RunTimeout(fmt::format(
            "rank {}: no progress for {} s waiting on {}: the peer never posted the matching transfer "
            "(raise --timeout-s if the peer is merely slow)",
            rank_, to_seconds(timeout_), what));
      }
    }
  }

  void collect(std::vector<trace::OpRecord>& out) const {
    for (const auto& op : prog_.ops) {
      const auto t = backend_.timing(rank_, op.id);
      trace::OpRecord r;
      r.rank = rank_;
      r.op = op.id;
      r.phase = op.phase;
      r.stream = op.stream;
      r.kind = ir::kind_name(op.kind);
      r.start = t.start;
      r.end = t.end;
      r.bytes = std::visit(MovedBytes{}, op.kind);
      r.flops = ir::op_flops(op.kind);
      out.push_back(std::move(r));
    }
  }

 private:
  /// Marks finished ops and moves stream heads past finished units; true if anything changed.
  bool poll() {
    bool changed = false;
    for (std::size_t i = 0; i < prog_.ops.size(); ++i) {
      if (launched_[i] != 0 && done_[i] == 0 && backend_.is_done(rank_, static_cast<ir::OpId>(i))) {
        done_[i] = 1;
        ++finished_;
        changed = true;
      }
    }
    for (std::size_t s = 0; s < kStreams; ++s) {
      while (head_[s] < streams_[s].size()) {
        const std::size_t end = unit_end(s);
        bool all = true;
        for (std::size_t k = head_[s]; k < end; ++k) all = all && done_[streams_[s][k]] != 0;
        if (!all) break;
        head_[s] = end;
        changed = true;
      }
    }
    return changed;
  }

  /// One past the last op of the unit (a group, or a single op) at the head of stream s.
  [[nodiscard]] std::size_t unit_end(std::size_t s) const {
    const auto& q = streams_[s];
    std::size_t end = head_[s] + 1;
    const auto group = prog_.ops[q[head_[s]]].group;
    if (group == 0) return end;
    while (end < q.size() && prog_.ops[q[end]].group == group) ++end;
    return end;
  }

  /// Launches the unit at the head of stream s if it is not launched and its deps are done.
  bool try_launch(std::size_t s, bool transfers_only) {
    const auto& q = streams_[s];
    if (head_[s] >= q.size()) return false;
    const std::size_t begin = head_[s];
    const std::size_t end = unit_end(s);
    if (launched_[q[begin]] != 0) return false;
    for (std::size_t k = begin; k < end; ++k) {
      const auto& op = prog_.ops[q[k]];
      if (transfers_only && !is_transfer(op)) return false;
      for (const auto d : op.deps) {
        if (done_[d] != 0) continue;
        for (std::size_t m = begin; m < end; ++m) {
          if (q[m] == d) {
            throw ValidationError(fmt::format("rank {} {}: depends on op {} of its own group {}, which launches with it",
                                              rank_, describe_op(op), d, op.group));
          }
        }
        return false;
      }
    }
    for (std::size_t k = begin; k < end; ++k) {
      const auto& op = prog_.ops[q[k]];
      launched_[op.id] = 1;
      std::visit(Launch{backend_, rank_, op.id}, op.kind);
    }
    return true;
  }

  [[nodiscard]] std::string stuck_message() const {
    std::string heads;
    for (std::size_t s = 0; s < kStreams; ++s) {
      if (head_[s] >= streams_[s].size()) continue;
      const auto& op = prog_.ops[streams_[s][head_[s]]];
      std::string waits;
      for (const auto d : op.deps)
        if (done_[d] == 0) waits += fmt::format("{}{}", waits.empty() ? "" : ", ", d);
      heads += fmt::format("; {} waits for op(s) {}", describe_op(op), waits);
    }
    return fmt::format("rank {} cannot make progress: no op is ready and none is in flight{}", rank_, heads);
  }

  const ir::RankProgram& prog_;
  Backend& backend_;
  std::int32_t rank_;
  Time timeout_;
  std::array<std::vector<ir::OpId>, kStreams> streams_;
  std::array<std::size_t, kStreams> head_{};
  std::vector<std::uint8_t> launched_;
  std::vector<std::uint8_t> done_;
  std::size_t finished_ = 0;
};

}  // namespace

std::string describe_op(const ir::Op& op) {
  std::string what = ir::kind_name(op.kind);
  if (const auto* s = std::get_if<ir::Send>(&op.kind)) what = fmt::format("send to rank {}, tag {}", s->peer, s->tag);
  if (const auto* r = std::get_if<ir::Recv>(&op.kind)) what = fmt::format("recv from rank {}, tag {}", r->peer, r->tag);
  return fmt::format("op {} ({}, phase {})", op.id, what, op.phase);
}

trace::Trace execute(const ir::Schedule& schedule, Backend& backend, const ExecuteOptions& options) {
  trace::Trace t;
  t.schedule_hash = options.schedule_hash.empty() ? ir::schedule_hash(schedule) : options.schedule_hash;
  t.source = backend.name();
  t.ranks = static_cast<std::int32_t>(schedule.ranks.size());
  std::vector<std::vector<trace::OpRecord>> per_rank(schedule.ranks.size());
  backend.run_ranks([&](std::int32_t rank) {
    RankWalker walker(schedule, backend, rank, options.timeout);
    walker.run();
    walker.collect(per_rank[static_cast<std::size_t>(rank)]);
  });
  for (auto& records : per_rank)
    for (auto& r : records) t.records.push_back(std::move(r));
  return t;
}

}  // namespace ringlab::runtime
