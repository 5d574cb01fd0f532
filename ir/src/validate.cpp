#include "ringlab/ir/validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <deque>
#include <tuple>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/serialize.hpp"

namespace ringlab::ir {

namespace {

constexpr std::size_t kStreams = 4;

std::string describe_op(const Schedule& s, std::size_t r, OpId id) {
  const auto& op = s.ranks[r].ops[id];
  std::string what = kind_name(op.kind);
  if (const auto* snd = std::get_if<Send>(&op.kind)) what = fmt::format("send to rank {} tag {}", snd->peer, snd->tag);
  if (const auto* rcv = std::get_if<Recv>(&op.kind)) what = fmt::format("recv from rank {} tag {}", rcv->peer, rcv->tag);
  return fmt::format("rank {} op {} ({})", r, id, what);
}

/// Collects structural errors up to a limit.
class Checker {
 public:
  Checker(const Schedule& s, std::size_t limit) : s_(s), limit_(limit) {}
  [[nodiscard]] std::vector<std::string> take() { return std::move(errors_); }
  [[nodiscard]] bool full() const { return errors_.size() >= limit_; }

  void run() {
    const auto P = s_.ranks.size();
    if (P == 0) return add("the schedule has no ranks");
    if (s_.partition.owned.size() != P)
      add(fmt::format("partition lists {} ranks but the schedule has {}", s_.partition.owned.size(), P));
    for (std::size_t r = 0; r < s_.partition.owned.size(); ++r)
      if (s_.partition.owned[r] >= s_.token_sets.size())
        add(fmt::format("partition of rank {}: token set {} does not exist", r, s_.partition.owned[r]));
    for (std::size_t t = 0; t < s_.token_sets.size(); ++t)
      for (const auto& c : s_.token_sets[t].chunks)
        if (c.length < 0 || c.stride < 1 || c.start < 0)
          add(fmt::format("token set {}: chunk (start {}, length {}, stride {}) is invalid", t, c.start, c.length,
                          c.stride));
    partition_covers();
    for (std::size_t r = 0; r < P && !full(); ++r) rank(r);
  }

 private:
  void add(std::string e) {
    if (!full()) errors_.push_back(std::move(e));
  }
  // A token partition (every kind but heads) gives each token of [0, seq_len) to exactly one rank: its
  // Q rows are computed once and its K,V block travels the ring once. Runs of consecutive positions
  // are compared as intervals (seq_len may be 2^40); strided chunks are marked one position at a time
  // in a bitmap, up to 2^28 positions.
  struct Owned {
    Chunk chunk;
    std::size_t rank;
  };
  void partition_covers() {
    if (s_.partition.kind == PartitionKind::heads || s_.workload.seq_len <= 0) return;
    const std::int64_t L = s_.workload.seq_len;
    std::vector<Owned> owned;  // every non-empty valid chunk of the partition, with its rank
    bool strided = false;
    for (std::size_t r = 0; r < s_.partition.owned.size(); ++r) {
      const auto t = s_.partition.owned[r];
      if (t >= s_.token_sets.size()) continue;  // reported above
      for (const auto& c : s_.token_sets[t].chunks) {
        if (c.length <= 0 || c.stride < 1 || c.start < 0) continue;  // empty, or reported above
        if (c.start + (c.length - 1) * c.stride >= L) {
          const std::int64_t past = c.start >= L ? c.start : c.start + (L - c.start + c.stride - 1) / c.stride * c.stride;
          return add(fmt::format("partition of rank {}: token set {} holds position {}, past seq_len {}", r, t, past, L));
        }
        owned.push_back({c, r});
        strided = strided || (c.stride > 1 && c.length > 1);
      }
    }
    if (strided) return partition_bitmap(owned, L);
    // Every chunk a run of consecutive positions [start, start + length).
    std::sort(owned.begin(), owned.end(), [](const Owned& a, const Owned& b) { return a.chunk.start < b.chunk.start; });
    std::int64_t covered = 0;  // [0, covered) owned, by the runs so far
    for (std::size_t i = 0; i < owned.size(); ++i) {
      const Owned& o = owned[i];
      if (o.chunk.start > covered) {
        return add(fmt::format("partition: position {} of seq_len {} is owned by no rank", covered, L));
      }
      if (o.chunk.start < covered) {
        const Owned& other = *std::find_if(owned.begin(), owned.begin() + static_cast<std::ptrdiff_t>(i), [&](const Owned& p) {
          return p.chunk.start + p.chunk.length > o.chunk.start;
        });
        return add(fmt::format("partition: position {} is owned by rank {} and rank {}", o.chunk.start,
                               std::min(other.rank, o.rank), std::max(other.rank, o.rank)));
      }
      covered = o.chunk.start + o.chunk.length;
    }
    if (covered < L) add(fmt::format("partition: position {} of seq_len {} is owned by no rank", covered, L));
  }
  // The same with strided chunks: position by position, up to 2^28 positions (past that, not checked).
  void partition_bitmap(const std::vector<Owned>& chunks, std::int64_t L) {
    if (L > (std::int64_t{1} << 28)) return;
    std::vector<bool> owned(static_cast<std::size_t>(L));
    for (const auto& [c, r] : chunks) {
      for (std::int64_t i = 0; i < c.length; ++i) {
        const auto pos = static_cast<std::size_t>(c.start + i * c.stride);
        if (owned[pos]) return add(fmt::format("partition: position {} is owned by two ranks (rank {} the second)", pos, r));
        owned[pos] = true;
      }
    }
    const auto gap = std::find(owned.begin(), owned.end(), false);
    if (gap != owned.end()) add(fmt::format("partition: position {} of seq_len {} is owned by no rank", gap - owned.begin(), L));
  }
  // An attention block's mask and FLOPs follow from its token sets and the workload (docs/ir.md,
  // "FLOPs"); the simulator prices the block by them, so a block that disagrees would be mispriced.
  template <class A>
  void attention_figures(std::size_t r, OpId id, const A& a) {
    const auto sets = s_.token_sets.size();
    if (a.q.positions >= sets || a.kv.positions >= sets) return;  // reported by slice()
    const BlockFigures want = block_figures(s_.workload, s_.token_sets[a.q.positions], s_.token_sets[a.kv.positions]);
    if (a.mask != want.mask) {
      add(fmt::format("{}: mask is {} but its token sets make it {}", describe_op(s_, r, id), to_string(a.mask),
                      to_string(want.mask)));
    }
    if constexpr (std::is_same_v<A, Attend>) {  // AttendGrad's FLOPs follow another convention (2.5x)
      if (a.flops != want.flops) {
        add(fmt::format("{}: flops is {} but its token sets make it {} (4*B*H*d per attended pair)", describe_op(s_, r, id),
                        a.flops.value, want.flops.value));
      }
    }
  }
  void rank(std::size_t r) {
    const auto& prog = s_.ranks[r];
    for (std::size_t b = 0; b < prog.buffers.size(); ++b) {
      const auto& buf = prog.buffers[b];
      if (buf.bytes.value < 0 || buf.tokens < 0) add(fmt::format("rank {} buffer '{}': negative size", r, buf.name));
      for (std::size_t o = 0; o < b; ++o)
        if (prog.buffers[o].name == buf.name) add(fmt::format("rank {}: two buffers are named '{}'", r, buf.name));
    }
    for (std::size_t i = 0; i < prog.ops.size() && !full(); ++i) op(r, static_cast<OpId>(i));
  }
  bool buffer_ok(std::size_t r, OpId id, BufferId b, const char* what) {
    if (b < s_.ranks[r].buffers.size()) return true;
    add(fmt::format("{}: {} buffer {} does not exist (rank has {})", describe_op(s_, r, id), what, b,
                    s_.ranks[r].buffers.size()));
    return false;
  }
  void rows(std::size_t r, OpId id, BufferId b, std::int64_t offset, std::int64_t count, const char* what) {
    if (!buffer_ok(r, id, b, what)) return;
    const auto& buf = s_.ranks[r].buffers[b];
    if (offset < 0 || count < 0 || offset + count > buf.tokens)
      add(fmt::format("{}: {} rows [{}, {}) exceed buffer '{}' of {} token rows", describe_op(s_, r, id), what, offset,
                      offset + count, buf.name, buf.tokens));
  }
  void slice(std::size_t r, OpId id, const TokenSlice& t, const char* what) {
    rows(r, id, t.buffer, t.token_offset, t.tokens, what);
    if (t.positions >= s_.token_sets.size()) {
      add(fmt::format("{}: {} token set {} does not exist", describe_op(s_, r, id), what, t.positions));
    } else if (token_count(s_.token_sets[t.positions]) != t.tokens) {
      add(fmt::format("{}: {} has {} rows but its token set {} has {} tokens", describe_op(s_, r, id), what, t.tokens,
                      t.positions, token_count(s_.token_sets[t.positions])));
    }
  }
  void bytes(std::size_t r, OpId id, const ByteSlice& b, const char* what) {
    if (!buffer_ok(r, id, b.buffer, what)) return;
    const auto& buf = s_.ranks[r].buffers[b.buffer];
    if (b.offset.value < 0 || b.bytes.value < 0 || b.offset.value + b.bytes.value > buf.bytes.value)
      add(fmt::format("{}: {} bytes [{}, {}) exceed buffer '{}' of {} bytes", describe_op(s_, r, id), what,
                      b.offset.value, b.offset.value + b.bytes.value, buf.name, buf.bytes.value));
  }
  void heads(std::size_t r, OpId id, std::int32_t begin, std::int32_t count) {
    if (begin < 0 || count < 1 || begin + count > s_.workload.q_heads)
      add(fmt::format("{}: heads [{}, {}) outside the workload's {} query heads", describe_op(s_, r, id), begin,
                      begin + count, s_.workload.q_heads));
  }
  void peer(std::size_t r, OpId id, std::int32_t p) {
    if (p < 0 || static_cast<std::size_t>(p) >= s_.ranks.size())
      add(fmt::format("{}: peer rank {} does not exist", describe_op(s_, r, id), p));
  }
  void op(std::size_t r, OpId id) {
    const auto& o = s_.ranks[r].ops[id];
    if (o.id != id) add(fmt::format("rank {} op at index {} has id {} (ids must equal their index)", r, id, o.id));
    for (const auto d : o.deps) {
      if (d >= s_.ranks[r].ops.size()) add(fmt::format("{}: depends on op {}, which does not exist", describe_op(s_, r, id), d));
      else if (d == id) add(fmt::format("{}: depends on itself", describe_op(s_, r, id)));
      else if (o.group != 0 && s_.ranks[r].ops[d].group == o.group && s_.ranks[r].ops[d].stream == o.stream)
        add(fmt::format("{}: depends on op {} of its own group (group members launch together)",
                        describe_op(s_, r, id), d));
    }
    std::visit(
        [&](const auto& k) {
          using K = std::decay_t<decltype(k)>;
          if constexpr (std::is_same_v<K, Attend>) {
            slice(r, id, k.q, "q");
            slice(r, id, k.kv, "kv");
            rows(r, id, k.out, k.out_offset, k.q.tokens, "out");
            rows(r, id, k.lse, k.out_offset, k.q.tokens, "lse");
            heads(r, id, k.head_begin, k.heads);
            attention_figures(r, id, k);
          } else if constexpr (std::is_same_v<K, AttendGrad>) {
            slice(r, id, k.q, "q");
            slice(r, id, k.kv, "kv");
            rows(r, id, k.out, k.q.token_offset, k.q.tokens, "out");
            rows(r, id, k.lse, k.q.token_offset, k.q.tokens, "lse");
            rows(r, id, k.grad_out, k.q.token_offset, k.q.tokens, "grad_out");
            rows(r, id, k.grad_q, k.q.token_offset, k.q.tokens, "grad_q");
            rows(r, id, k.grad_kv, k.grad_kv_offset, k.kv.tokens, "grad_kv");
            heads(r, id, k.head_begin, k.heads);
            attention_figures(r, id, k);
          } else if constexpr (std::is_same_v<K, Merge>) {
            rows(r, id, k.out, k.offset, k.rows, "out");
            rows(r, id, k.lse, k.offset, k.rows, "lse");
            rows(r, id, k.partial_out, k.partial_offset, k.rows, "partial_out");
            rows(r, id, k.partial_lse, k.partial_offset, k.rows, "partial_lse");
            heads(r, id, k.head_begin, k.heads);
          } else if constexpr (std::is_same_v<K, Send> || std::is_same_v<K, Recv>) {
            peer(r, id, k.peer);
            bytes(r, id, k.data, "data");
          } else if constexpr (std::is_same_v<K, Copy> || std::is_same_v<K, Reduce>) {
            bytes(r, id, k.src, "src");
            bytes(r, id, k.dst, "dst");
            if (k.src.bytes != k.dst.bytes)
              add(fmt::format("{}: src has {} bytes but dst {}", describe_op(s_, r, id), k.src.bytes.value,
                              k.dst.bytes.value));
          } else if constexpr (std::is_same_v<K, Gemm>) {
            buffer_ok(r, id, k.a, "a");
            buffer_ok(r, id, k.b, "b");
            buffer_ok(r, id, k.c, "c");
          }
        },
        o.kind);
  }

  const Schedule& s_;
  std::size_t limit_;
  std::vector<std::string> errors_;
};

/// One endpoint of a transfer: (src, dst, tag) plus where it is.
struct End {
  std::int32_t src, dst;
  std::uint32_t tag;
  std::int32_t rank;
  OpId op;
  std::uint64_t order;  // position among this rank's transfers on this channel
  Bytes bytes;
  auto key() const { return std::tie(src, dst, tag); }
};

/// Matches sends to recvs; fills `peer_op[r][i]` with the matching op on the peer rank.
std::string match_transfers(const Schedule& s, std::vector<std::vector<OpId>>& peer_op) {
  std::vector<End> sends, recvs;
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const auto ri = static_cast<std::int32_t>(r);
    for (const auto& op : s.ranks[r].ops) {
      if (const auto* snd = std::get_if<Send>(&op.kind)) sends.push_back({ri, snd->peer, snd->tag, ri, op.id, 0, snd->data.bytes});
      if (const auto* rcv = std::get_if<Recv>(&op.kind)) recvs.push_back({rcv->peer, ri, rcv->tag, ri, op.id, 0, rcv->data.bytes});
    }
  }
  auto by_key = [](const End& a, const End& b) { return a.key() < b.key(); };
  std::stable_sort(sends.begin(), sends.end(), by_key);
  std::stable_sort(recvs.begin(), recvs.end(), by_key);
  const auto where = [&](const End& e) { return describe_op(s, static_cast<std::size_t>(e.rank), e.op); };
  std::size_t i = 0, j = 0;
  while (i < sends.size() || j < recvs.size()) {
    if (j == recvs.size() || (i < sends.size() && sends[i].key() < recvs[j].key()))
      return fmt::format("{}: no matching recv on rank {}", where(sends[i]), sends[i].dst);
    if (i == sends.size() || recvs[j].key() < sends[i].key())
      return fmt::format("{}: no matching send on rank {}", where(recvs[j]), recvs[j].src);
    const End& a = sends[i];
    const End& b = recvs[j];
    if (i + 1 < sends.size() && sends[i + 1].key() == a.key())
      return fmt::format("{} and {}: two sends with the same destination and tag", where(a), where(sends[i + 1]));
    if (j + 1 < recvs.size() && recvs[j + 1].key() == b.key())
      return fmt::format("{} and {}: two recvs with the same source and tag", where(b), where(recvs[j + 1]));
    if (a.bytes != b.bytes)
      return fmt::format("{} sends {} bytes but {} receives {}", where(a), a.bytes.value, where(b), b.bytes.value);
    peer_op[static_cast<std::size_t>(a.rank)][a.op] = b.op;
    peer_op[static_cast<std::size_t>(b.rank)][b.op] = a.op;
    ++i;
    ++j;
  }
  // NCCL matches by issue order per (src, dst) channel: the recvs must come in the order of the sends.
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    std::vector<std::int64_t> last(s.ranks.size(), -1);
    for (const auto& op : s.ranks[r].ops) {
      const auto* rcv = std::get_if<Recv>(&op.kind);
      if (rcv == nullptr) continue;
      const auto src = static_cast<std::size_t>(rcv->peer);
      const auto send_op = static_cast<std::int64_t>(peer_op[r][op.id]);
      if (send_op < last[src])
        return fmt::format("{} is issued after a recv from the same rank whose send comes later: NCCL would pair "
                           "them in the wrong order",
                           describe_op(s, r, op.id));
      last[src] = send_op;
    }
  }
  return {};
}

/// Ops of each stream of a rank, in issue order.
using StreamLists = std::array<std::vector<OpId>, kStreams>;

StreamLists streams_of(const RankProgram& p) {
  StreamLists lists;
  for (const auto& op : p.ops) lists[static_cast<std::size_t>(op.stream)].push_back(op.id);
  return lists;
}

/// A dependency cycle within a rank (deps plus stream order), as "op a -> op b -> ... -> op a".
std::string find_cycle(const Schedule& s, std::size_t r) {
  const auto& ops = s.ranks[r].ops;
  const auto n = ops.size();
  // Edges: op -> each of its deps, op -> the previous op of its stream.
  std::vector<OpId> prev_on_stream(n, static_cast<OpId>(-1));
  const auto lists = streams_of(s.ranks[r]);
  for (const auto& l : lists)
    for (std::size_t i = 1; i < l.size(); ++i) prev_on_stream[l[i]] = l[i - 1];
  std::vector<std::uint8_t> color(n, 0);  // 0 new, 1 on stack, 2 done
  for (OpId root = 0; root < n; ++root) {
    if (color[root] != 0) continue;
    // Iterative DFS: stack of (op, next edge index).
    std::vector<std::pair<OpId, std::size_t>> stack{{root, 0}};
    color[root] = 1;
    while (!stack.empty()) {
      auto& [v, e] = stack.back();
      const auto& deps = ops[v].deps;
      const bool has_prev = prev_on_stream[v] != static_cast<OpId>(-1);
      if (e < deps.size() + (has_prev ? 1 : 0)) {
        const OpId u = e < deps.size() ? deps[e] : prev_on_stream[v];
        ++e;
        if (u >= n) continue;
        if (color[u] == 1) {
          std::vector<OpId> cycle{u};
          for (auto it = stack.rbegin(); it != stack.rend() && it->first != u; ++it) cycle.push_back(it->first);
          cycle.push_back(u);
          std::reverse(cycle.begin(), cycle.end());
          std::string path;
          for (const auto c : cycle) path += fmt::format("{}op {}", path.empty() ? "" : " -> ", c);
          return fmt::format("rank {}: dependency cycle (an arrow reads 'waits for'): {}", r, path);
        }
        if (color[u] == 0) {
          color[u] = 1;
          stack.push_back({u, 0});
        }
      } else {
        color[v] = 2;
        stack.pop_back();
      }
    }
  }
  return {};
}

/// Abstract execution under the rendezvous semantics; returns a description of the blocked state.
std::string find_deadlock(const Schedule& s, const std::vector<std::vector<OpId>>& peer_op) {
  const auto P = s.ranks.size();
  std::vector<StreamLists> lists(P);
  std::vector<std::array<std::size_t, kStreams>> head(P);
  std::vector<std::vector<std::uint8_t>> state(P);  // 0 waiting, 1 posted (transfer issued), 2 done
  std::size_t remaining = 0;
  for (std::size_t r = 0; r < P; ++r) {
    lists[r] = streams_of(s.ranks[r]);
    head[r].fill(0);
    state[r].assign(s.ranks[r].ops.size(), 0);
    remaining += s.ranks[r].ops.size();
  }
  std::deque<std::size_t> work;
  std::vector<std::uint8_t> queued(P, 1);
  for (std::size_t r = 0; r < P; ++r) work.push_back(r);
  auto wake = [&](std::size_t r) {
    if (!queued[r]) {
      queued[r] = 1;
      work.push_back(r);
    }
  };
  // The head unit of a stream: the op at head, extended over consecutive ops of the same nonzero group.
  auto unit_end = [&](std::size_t r, std::size_t st) {
    const auto& l = lists[r][st];
    std::size_t e = head[r][st];
    if (e >= l.size()) return e;
    const auto g = s.ranks[r].ops[l[e]].group;
    ++e;
    while (g != 0 && e < l.size() && s.ranks[r].ops[l[e]].group == g) ++e;
    return e;
  };
  auto deps_done = [&](std::size_t r, OpId id) {
    const auto& deps = s.ranks[r].ops[id].deps;
    return std::all_of(deps.begin(), deps.end(), [&](OpId d) { return state[r][d] == 2; });
  };
  while (!work.empty()) {
    const auto r = work.front();
    work.pop_front();
    queued[r] = 0;
    bool progress = true;
    while (progress) {
      progress = false;
      for (std::size_t st = 0; st < kStreams; ++st) {
        const auto& l = lists[r][st];
        if (head[r][st] >= l.size()) continue;
        const auto end = unit_end(r, st);
        bool all_done = true;
        bool ready = true;
        for (auto i = head[r][st]; i < end; ++i) ready = ready && (state[r][l[i]] != 0 || deps_done(r, l[i]));
        if (!ready) continue;
        for (auto i = head[r][st]; i < end; ++i) {
          const OpId id = l[i];
          if (state[r][id] == 0) {
            const auto& kind = s.ranks[r].ops[id].kind;
            if (std::holds_alternative<Send>(kind) || std::holds_alternative<Recv>(kind)) {
              state[r][id] = 1;
              const auto peer = static_cast<std::size_t>(std::holds_alternative<Send>(kind) ? std::get<Send>(kind).peer
                                                                                            : std::get<Recv>(kind).peer);
              const OpId other = peer_op[r][id];
              if (state[peer][other] == 1) {
                state[r][id] = 2;
                state[peer][other] = 2;
                remaining -= 2;
                wake(peer);
              }
            } else {
              state[r][id] = 2;
              --remaining;
            }
            progress = true;
          }
          all_done = all_done && state[r][id] == 2;
        }
        if (all_done) {
          head[r][st] = end;
          progress = true;
        }
      }
    }
  }
  if (remaining == 0) return {};
  // Describe the blocked heads.
  std::vector<std::string> blocked;
  std::size_t blocked_ranks = 0;
  for (std::size_t r = 0; r < P; ++r) {
    bool any = false;
    for (std::size_t st = 0; st < kStreams; ++st) {
      const auto& l = lists[r][st];
      if (head[r][st] >= l.size()) continue;
      any = true;
      if (blocked.size() >= 8) continue;
      const auto end = unit_end(r, st);
      for (auto i = head[r][st]; i < end; ++i) {
        const OpId id = l[i];
        if (state[r][id] == 2) continue;
        if (state[r][id] == 1) {
          blocked.push_back(fmt::format("{} waits for its peer", describe_op(s, r, id)));
        } else {
          for (const auto d : s.ranks[r].ops[id].deps)
            if (state[r][d] != 2) {
              blocked.push_back(fmt::format("{} waits for op {}", describe_op(s, r, id), d));
              break;
            }
          if (deps_done(r, id)) blocked.push_back(fmt::format("{} waits for its group", describe_op(s, r, id)));
        }
      }
    }
    blocked_ranks += any ? 1 : 0;
  }
  return fmt::format("deadlock: {} rank{} cannot proceed: {}", blocked_ranks, blocked_ranks == 1 ? "" : "s",
                     fmt::join(blocked, "; "));
}

}  // namespace

std::vector<std::string> validation_errors(const Schedule& s, std::size_t limit) {
  Checker checker(s, limit);
  checker.run();
  auto errors = checker.take();
  if (!errors.empty()) return errors;
  std::vector<std::vector<OpId>> peer_op(s.ranks.size());
  for (std::size_t r = 0; r < s.ranks.size(); ++r) peer_op[r].assign(s.ranks[r].ops.size(), 0);
  if (auto e = match_transfers(s, peer_op); !e.empty()) return {e};
  for (std::size_t r = 0; r < s.ranks.size(); ++r)
    if (auto e = find_cycle(s, r); !e.empty()) return {e};
  if (auto e = find_deadlock(s, peer_op); !e.empty()) return {e};
  return {};
}

void validate(const Schedule& s) {
  const auto errors = validation_errors(s, 1);
  if (!errors.empty()) throw ValidationError(errors.front());
}

}  // namespace ringlab::ir
