// Schedule generators: the only code that writes ops (DESIGN.md). Each variant is a function that
// fills a Builder; the Builder owns the bookkeeping (ids, token sets, buffers) so the variants read
// as the schedule they describe.
#include "ringlab/ir/generate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string_view>
#include <utility>

#include "ringlab/core/error.hpp"

namespace ringlab::ir {

namespace {

// --- FLOPs of masked attention -----------------------------------------------------------------
// Every (q, k) pair is weighed in half-units: 2 if attended, 1 if k == q under a causal mask
// (the FlashAttention convention charges the causal diagonal block exactly half), 0 if masked.

/// Elements of chunk c with position in [lo, hi).
std::int64_t count_in(const Chunk& c, std::int64_t lo, std::int64_t hi) {
  if (hi <= lo || c.length == 0) return 0;
  auto ceil_div = [](std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  const std::int64_t first = std::clamp<std::int64_t>(ceil_div(lo - c.start, c.stride), 0, c.length);
  const std::int64_t last = std::clamp<std::int64_t>(ceil_div(hi - c.start, c.stride), 0, c.length);
  return std::max<std::int64_t>(0, last - first);
}

/// Sum over p in [b, x) of clamp(p - b, 0, m): used by the contiguous causal closed form.
std::int64_t ramp_sum(std::int64_t x, std::int64_t b, std::int64_t m) {
  const std::int64_t u = x - b;
  if (u <= 0) return 0;
  if (u <= m + 1) return u * (u - 1) / 2;
  return m * (m + 1) / 2 + (u - m - 1) * m;
}

/// Half-unit weight of all pairs between two chunks.
std::int64_t pair_weight(const Workload& w, const Chunk& q, const Chunk& k) {
  if (!w.causal && w.window == 0) return 2 * q.length * k.length;
  if (w.window == 0 && q.stride == 1 && k.stride == 1) {
    // sum_p (2 * #{k < p} + [p in k]) in closed form.
    const std::int64_t below = ramp_sum(q.start + q.length, k.start, k.length) - ramp_sum(q.start, k.start, k.length);
    const std::int64_t diag =
        std::max<std::int64_t>(0, std::min(q.start + q.length, k.start + k.length) - std::max(q.start, k.start));
    return 2 * below + diag;
  }
  // General case, one q row at a time (striped chunks, windows).
  constexpr std::int64_t kFar = std::numeric_limits<std::int64_t>::max() / 4;
  std::int64_t total = 0;
  for (std::int64_t i = 0; i < q.length; ++i) {
    const std::int64_t p = q.start + i * q.stride;
    if (w.causal) {
      // k in (p - window, p): full weight; k == p: half.
      const std::int64_t lo = w.window > 0 ? p - w.window + 1 : -kFar;
      total += 2 * count_in(k, lo, p) + count_in(k, p, p + 1);
    } else {
      // A window without causality is two-sided: |p - k| < window.
      total += 2 * count_in(k, p - w.window + 1, p + w.window);
    }
  }
  return total;
}

std::int64_t set_weight(const Workload& w, const TokenSet& q, const TokenSet& kv) {
  std::int64_t total = 0;
  for (const auto& qc : q.chunks)
    for (const auto& kc : kv.chunks) total += pair_weight(w, qc, kc);
  return total;
}

/// 4*B*H*d per attended pair = 2*B*H*d per half-unit.
Flops flops_of(const Workload& w, std::int64_t weight) { return Flops(2 * w.batch * w.q_heads * w.head_dim * weight); }

/// The mask of a block of q_tokens x kv_tokens pairs of total half-unit weight `weight`.
Mask relation(std::int64_t weight, std::int64_t q_tokens, std::int64_t kv_tokens) {
  if (weight == 0) return Mask::skip;
  if (weight == 2 * q_tokens * kv_tokens) return Mask::full;
  return Mask::partial;
}

// --- the builder -----------------------------------------------------------------------------------

// Writes every field of a slice one by one: a slice copied whole from one just written field by field
// is read back in one wide load that waits for the narrower stores (store forwarding fails).
void set_slice(TokenSlice& to, const TokenSlice& from) noexcept {
  to.buffer = from.buffer;
  to.token_offset = from.token_offset;
  to.tokens = from.tokens;
  to.positions = from.positions;
}
void set_slice(ByteSlice& to, BufferId buffer, Bytes offset, Bytes bytes) noexcept {
  to.buffer = buffer;
  to.offset = offset;
  to.bytes = bytes;
}

class Builder {
 public:
  Builder(const Workload& w, const ScheduleSpec& spec) : w_(w) {
    s_.variant = spec.variant;
    s_.workload = w;
    s_.ranks.resize(static_cast<std::size_t>(spec.ranks));
  }

  [[nodiscard]] const Workload& workload() const { return w_; }
  /// The schedule built so far (the header once the variant's setup has run).
  [[nodiscard]] Schedule& schedule() { return s_; }
  [[nodiscard]] const Schedule& schedule() const { return s_; }

  TokenSetId token_set(TokenSet set) {
    auto [it, inserted] = set_ids_.try_emplace(key_of(set), static_cast<TokenSetId>(s_.token_sets.size()));
    if (inserted) {
      only_chunk_.push_back(set.chunks.size() == 1 ? set.chunks[0] : Chunk{0, -1, 1});
      s_.token_sets.push_back(std::move(set));
    }
    return it->second;
  }
  /// The id of a set setup() created (emitters may not add sets: the header is fixed by then).
  [[nodiscard]] TokenSetId find_token_set(const TokenSet& set) const {
    const auto it = set_ids_.find(key_of(set));
    if (it == set_ids_.end()) throw Error("generator: token set used by an op was not created in setup");
    return it->second;
  }
  void own(PartitionKind kind, std::vector<TokenSetId> owned) {
    s_.partition.kind = kind;
    s_.partition.owned = std::move(owned);
    // Does rank k own set owned[0] + k, the one chunk that follows rank k-1's? (A contiguous partition
    // made in rank order: then owned_set is arithmetic, not two table reads a step, which at thousands
    // of ranks were most of the ring emitter's cache misses.)
    const auto& o = s_.partition.owned;
    arithmetic_ = !o.empty() && only_chunk_[o[0]].length >= 0 && only_chunk_[o[0]].stride == 1;
    if (!arithmetic_) return;
    const Chunk first = only_chunk_[o[0]];
    for (std::size_t k = 1; arithmetic_ && k < o.size(); ++k) {
      const auto i = static_cast<std::int64_t>(k);
      arithmetic_ = o[k] == o[0] + k && only_chunk_[o[k]] == Chunk{first.start + i * first.length, first.length, 1};
    }
  }
  [[nodiscard]] const TokenSet& set(TokenSetId id) const { return s_.token_sets[id]; }
  [[nodiscard]] TokenSetId owned(int rank) const { return s_.partition.owned[static_cast<std::size_t>(rank)]; }
  /// A rank's token set and, when that is one chunk, the chunk (else length -1).
  struct OwnedSet {
    TokenSetId id;
    Chunk chunk;
  };
  [[nodiscard]] OwnedSet owned_set(int rank) const {
    if (arithmetic_) {
      const TokenSetId first = s_.partition.owned.front();
      const Chunk& c = only_chunk_[first];  // the same line every time
      return {first + static_cast<TokenSetId>(rank), Chunk{c.start + rank * c.length, c.length, 1}};
    }
    const TokenSetId id = owned(rank);
    return {id, only_chunk_[id]};
  }

  // Buffer sizes follow the token-major layouts of docs/ir.md.
  [[nodiscard]] Bytes q_bytes(std::int64_t tokens) const {
    return Bytes(tokens * w_.batch * w_.q_heads * w_.head_dim * element_bytes(w_.dtype));
  }
  [[nodiscard]] Bytes kv_bytes(std::int64_t tokens) const {
    return Bytes(2 * tokens * w_.batch * w_.kv_heads * w_.head_dim * element_bytes(w_.dtype));
  }
  [[nodiscard]] Bytes lse_bytes(std::int64_t tokens) const { return Bytes(tokens * w_.batch * w_.q_heads * 4); }

  BufferId buffer(int rank, std::string name, BufferRole role, std::int64_t tokens) {
    Bytes bytes{0};
    DType dtype = w_.dtype;
    switch (role) {
      case BufferRole::kv: bytes = kv_bytes(tokens); break;
      case BufferRole::lse:
      case BufferRole::partial_lse:
        bytes = lse_bytes(tokens);
        dtype = DType::fp32;
        break;
      default: bytes = q_bytes(tokens); break;
    }
    auto& bufs = s_.ranks[static_cast<std::size_t>(rank)].buffers;
    bufs.push_back(Buffer{std::move(name), role, dtype, tokens, bytes});
    return static_cast<BufferId>(bufs.size() - 1);
  }
  /// The buffer of `rank` called `name` (the variant's setup created it).
  [[nodiscard]] BufferId buffer_named(int rank, std::string_view name) const {
    const auto& bufs = s_.ranks[static_cast<std::size_t>(rank)].buffers;
    for (std::size_t i = 0; i < bufs.size(); ++i) {
      if (bufs[i].name == name) return static_cast<BufferId>(i);
    }
    throw Error(fmt::format("generator: rank {} has no buffer '{}'", rank, name));
  }

  /// An Attend of all q rows against kv rows [kv_offset, +kv_tokens) with positions kv_pos.
  [[nodiscard]] Attend attend(TokenSlice q, TokenSlice kv, BufferId out, BufferId lse) const {
    Attend a;
    fill_attend(a, q, kv, out, lse);
    return a;
  }
  /// The same, written into `a` (every field) in place: see OpWriter::next.
  void fill_attend(Attend& a, TokenSlice q, TokenSlice kv, BufferId out, BufferId lse) const {
    // Most sets are one chunk: weigh those from the flat copies (one read where the sets' own chunk
    // lists are a pointer away, the emitters' most frequent cache miss at thousands of ranks).
    fill_attend(a, q, kv, out, lse, only_chunk_[q.positions], only_chunk_[kv.positions]);
  }
  /// The same with the slices' sets' chunks at hand (owned_set): qc and kc are those of q.positions and
  /// kv.positions (length -1: not one chunk).
  void fill_attend(Attend& a, TokenSlice q, TokenSlice kv, BufferId out, BufferId lse, const Chunk& qc,
                   const Chunk& kc) const {
    set_slice(a.q, q);
    set_slice(a.kv, kv);
    a.out = out;
    a.lse = lse;
    a.out_offset = 0;
    a.head_begin = 0;
    a.heads = static_cast<std::int32_t>(w_.q_heads);
    std::int64_t weight = 0;
    if (qc.length >= 0 && kc.length >= 0) {
      weight = pair_weight(w_, qc, kc);
      a.mask = relation(weight, qc.length, kc.length);
    } else {
      const auto& qs = set(q.positions);
      const auto& ks = set(kv.positions);
      weight = set_weight(w_, qs, ks);
      a.mask = relation(weight, token_count(qs), token_count(ks));
    }
    a.flops = flops_of(w_, weight);
  }
  [[nodiscard]] Merge merge(BufferId out, BufferId lse, BufferId pout, BufferId plse, std::int64_t rows) const {
    Merge m;
    fill_merge(m, out, lse, pout, plse, rows);
    return m;
  }
  /// The same, written into `m` (every field) in place: see OpWriter::next.
  void fill_merge(Merge& m, BufferId out, BufferId lse, BufferId pout, BufferId plse, std::int64_t rows) const {
    m.out = out;
    m.lse = lse;
    m.partial_out = pout;
    m.partial_lse = plse;
    m.offset = 0;
    m.partial_offset = 0;
    m.rows = rows;
    m.head_begin = 0;
    m.heads = static_cast<std::int32_t>(w_.q_heads);
  }

 private:
  static std::vector<std::int64_t> key_of(const TokenSet& set) {
    std::vector<std::int64_t> k;
    for (const auto& c : set.chunks) k.insert(k.end(), {c.start, c.length, c.stride});
    return k;
  }

  Workload w_;
  Schedule s_;
  std::map<std::vector<std::int64_t>, TokenSetId> set_ids_;
  std::vector<Chunk> only_chunk_;  // per token set: its chunk if it has exactly one, else length -1
  bool arithmetic_ = false;        // see own()
};

/// Writes one rank's ops, numbering them (a variant's emitter writes through this). It writes from
/// ops[0] on, reusing the Op objects already there (a cursor's buffer keeps its small vectors), and
/// numbers them from `first`.
class OpWriter {
 public:
  OpWriter(std::vector<Op>& ops, OpId first) : ops_(ops), first_(first) {}
  // The kind is taken as its own type and assigned into the reused Op's variant: when the Op already
  // holds that alternative (a ring's steps repeat), a plain member assignment, with no variant built
  // and moved in between.
  template <class K>
  OpId operator()(Stream stream, std::uint32_t phase, K&& kind, std::initializer_list<OpId> deps = {},
                  std::uint32_t group = 0) {
    start(stream, phase, deps, group).kind = std::forward<K>(kind);
    return last();
  }
  /// The next op, holding a K for the caller to fill in place, every field (a slot of the reused batch
  /// keeps the previous step's values). The hot emitters write through this: a kind built apart, field
  /// by field, and then copied in whole was read back in wide loads that waited for its narrower stores
  /// (store forwarding fails across sizes), most of the ring emitter's time at thousands of ranks.
  template <class K>
  K& next(Stream stream, std::uint32_t phase, std::initializer_list<OpId> deps = {}, std::uint32_t group = 0) {
    Op& o = start(stream, phase, deps, group);
    if (K* k = std::get_if<K>(&o.kind)) return *k;
    return o.kind.template emplace<K>();
  }
  [[nodiscard]] OpId last() const noexcept { return first_ + static_cast<OpId>(n_ - 1); }  ///< the last op's id
  [[nodiscard]] std::size_t count() const noexcept { return n_; }  ///< ops written

 private:
  Op& start(Stream stream, std::uint32_t phase, std::initializer_list<OpId> deps, std::uint32_t group) {
    Op& o = n_ < ops_.size() ? ops_[n_] : ops_.emplace_back();
    o.id = first_ + static_cast<OpId>(n_);
    o.stream = stream;
    o.phase = phase;
    o.group = group;
    // A slot of the reused batch mostly holds an op with as many dependencies (a ring's steps repeat):
    // then a copy, without boost's out-of-line assign.
    if (o.deps.size() == deps.size()) {
      std::copy(deps.begin(), deps.end(), o.deps.begin());
    } else {
      o.deps.assign(deps.begin(), deps.end());
    }
    ++n_;
    return o;
  }
  std::vector<Op>& ops_;
  OpId first_;
  std::size_t n_ = 0;
};

/// One rank's program, a step at a time: the emitter holds where it is between steps, so a rank can be
/// generated as far as a consumer has read it.
class Emitter {
 public:
  virtual ~Emitter() = default;
  /// Writes the next step's ops; false (nothing written) once the program is complete.
  virtual bool step(OpWriter& op) = 0;
  /// About how many ops the whole program has (to reserve).
  [[nodiscard]] virtual std::size_t size_hint() const = 0;

 protected:
  Emitter() = default;
  Emitter(const Emitter&) = default;
  Emitter& operator=(const Emitter&) = default;
};

// --- variants ------------------------------------------------------------------------------------

/// Contiguous partition: rank r owns tokens [r*c, (r+1)*c).
std::vector<TokenSetId> contiguous_partition(Builder& b, int ranks) {
  const std::int64_t c = b.workload().seq_len / ranks;
  std::vector<TokenSetId> owned;
  for (int r = 0; r < ranks; ++r) owned.push_back(b.token_set(TokenSet{{Chunk{r * c, c, 1}}}));
  b.own(PartitionKind::contiguous, owned);
  return owned;
}

// Each variant is two parts: `setup` builds the header (partition, token sets, every rank's buffers) and
// an Emitter writes one rank's ops, step by step, from the header alone, so a schedule can be produced
// one rank at a time or a few ops of each rank at a time (ScheduleGenerator), and generate() is just
// every rank in turn.

/// The KV ring (Liu et al. 2023): every rank holds its Q, two KV slots (the block attended and the one
/// arriving), the output and its LSE, and (P > 1) a partial output and LSE to merge from.
void ring_setup(Builder& b, int P) {
  contiguous_partition(b, P);
  const std::int64_t c = b.workload().seq_len / P;
  for (int r = 0; r < P; ++r) {
    b.buffer(r, "q", BufferRole::q, c);
    b.buffer(r, "kv0", BufferRole::kv, c);
    b.buffer(r, "kv1", BufferRole::kv, c);
    b.buffer(r, "out", BufferRole::out, c);
    b.buffer(r, "lse", BufferRole::lse, c);
    if (P > 1) {
      b.buffer(r, "partial_out", BufferRole::partial_out, c);
      b.buffer(r, "partial_lse", BufferRole::partial_lse, c);
    }
  }
}

/// Rank r's ring program, a ring step at a time. With `overlap`, step s's send/recv of the block for step
/// s+1 runs on the comm stream beside step s's attention (two KV slots); without, it waits for the compute.
class RingEmitter final : public Emitter {
 public:
  RingEmitter(const Builder& b, int P, int r, bool overlap)
      : b_(b), P_(P), r_(r), overlap_(overlap), c_(b.workload().seq_len / P), q_(b.buffer_named(r, "q")),
        slot_{b.buffer_named(r, "kv0"), b.buffer_named(r, "kv1")}, out_(b.buffer_named(r, "out")),
        lse_(b.buffer_named(r, "lse")), pout_(P > 1 ? b.buffer_named(r, "partial_out") : out_),
        plse_(P > 1 ? b.buffer_named(r, "partial_lse") : lse_), kv_(b.kv_bytes(c_)) {}

  [[nodiscard]] std::size_t size_hint() const override { return 4 * static_cast<std::size_t>(P_); }

  bool step(OpWriter& op) override {
    if (s_ >= P_) return false;
    const int s = s_++;
    const auto phase = static_cast<std::uint32_t>(s);
    // (No % P: a division per op was a tenth of generating a ring at thousands of ranks.)
    const int next = r_ + 1 == P_ ? 0 : r_ + 1;
    const int prev = r_ == 0 ? P_ - 1 : r_ - 1;
    const int src = r_ >= s ? r_ - s : r_ - s + P_;  // owner of the block in slot s%2
    const BufferId cur = slot_[s % 2], nxt = slot_[(s + 1) % 2];
    auto transfer = [&](std::initializer_list<OpId> send_deps, std::initializer_list<OpId> recv_deps) {
      const auto group = phase + 1;
      Send& snd = op.next<Send>(Stream::comm, phase, send_deps, group);
      snd.peer = next;
      set_slice(snd.data, cur, Bytes{0}, kv_);
      snd.tag = phase;
      Recv& rcv = op.next<Recv>(Stream::comm, phase, recv_deps, group);  // (snd may dangle from here)
      rcv.peer = prev;
      set_slice(rcv.data, nxt, Bytes{0}, kv_);
      rcv.tag = phase;
      return op.last();
    };
    OpId recv = kNoOp;
    if (overlap_ && s + 1 < P_) {
      // The recv overwrites the slot that step s-1's attention read.
      recv = prev_attend_ != kNoOp ? transfer({}, {prev_attend_}) : transfer({}, {});
    }
    const bool first = s == 0;
    Attend& a = prev_recv_ != kNoOp ? op.next<Attend>(Stream::compute, phase, {prev_recv_})
                                    : op.next<Attend>(Stream::compute, phase);
    const Builder::OwnedSet qs = b_.owned_set(r_);
    const Builder::OwnedSet ks = b_.owned_set(src);
    b_.fill_attend(a, TokenSlice{q_, 0, c_, qs.id}, TokenSlice{cur, 0, c_, ks.id}, first ? out_ : pout_,
                   first ? lse_ : plse_, qs.chunk, ks.chunk);
    const bool skipped = a.mask == Mask::skip;
    OpId last = op.last();
    prev_attend_ = last;
    if (!first && !skipped) {
      b_.fill_merge(op.next<Merge>(Stream::compute, phase), out_, lse_, pout_, plse_, c_);
      last = op.last();
    }
    if (!overlap_ && s + 1 < P_) recv = transfer({last}, {last});
    prev_recv_ = recv;
    return true;
  }

 private:
  const Builder& b_;
  int P_, r_;
  bool overlap_;
  std::int64_t c_;
  BufferId q_, slot_[2], out_, lse_, pout_, plse_;
  Bytes kv_;
  int s_ = 0;  // the next step
  // The last attention and the last recv (kNoOp: none yet). Not std::optional: a copy of one, written
  // as a value and a flag and read back as one word, waited for the stores (store forwarding fails).
  static constexpr OpId kNoOp = std::numeric_limits<OpId>::max();
  OpId prev_attend_ = kNoOp;
  OpId prev_recv_ = kNoOp;
};

/// All-gather baseline: K,V of every rank gathered first (ring all-gather lowered to sends), then one
/// attention of the local queries against every key they may see. O(L) KV memory per rank.
void allgather_setup(Builder& b, int P) {
  contiguous_partition(b, P);
  const auto& w = b.workload();
  const std::int64_t c = w.seq_len / P;
  for (int r = 0; r < P; ++r) {
    b.buffer(r, "q", BufferRole::q, c);
    b.buffer(r, "kv", BufferRole::kv, c);
    b.buffer(r, "kv_all", BufferRole::kv, w.seq_len);
    b.buffer(r, "out", BufferRole::out, c);
    b.buffer(r, "lse", BufferRole::lse, c);
  }
  // Causal: rows of later ranks are fully masked, so rank r attends only the prefix [0, (r+1)c).
  for (int r = 0; r < P; ++r) b.token_set(TokenSet{{Chunk{0, w.causal ? (r + 1) * c : w.seq_len, 1}}});
}

/// Rank r's all-gather program: the local copy, one send/recv pair per ring step, then the attention.
class AllgatherEmitter final : public Emitter {
 public:
  AllgatherEmitter(const Builder& b, int P, int r)
      : b_(b), P_(P), r_(r), c_(b.workload().seq_len / P), kv_(b.kv_bytes(c_)), all_(b.buffer_named(r, "kv_all")) {}

  [[nodiscard]] std::size_t size_hint() const override { return 2 * static_cast<std::size_t>(P_) + 1; }

  bool step(OpWriter& op) override {
    if (k_ > P_) return false;
    const int k = k_++;
    if (k == 0) {
      last_ = op(Stream::comm, 0, Copy{ByteSlice{b_.buffer_named(r_, "kv"), Bytes{0}, kv_}, block(r_)});
    } else if (k < P_) {
      const int s = k - 1;
      const auto tag = static_cast<std::uint32_t>(s);
      op(Stream::comm, 0, Send{(r_ + 1) % P_, block((r_ - s + P_) % P_), tag}, {}, tag + 1);
      last_ = op(Stream::comm, 0, Recv{(r_ + P_ - 1) % P_, block((r_ - s - 1 + P_) % P_), tag}, {}, tag + 1);
    } else {
      const auto& w = b_.workload();
      const std::int64_t visible = w.causal ? (r_ + 1) * c_ : w.seq_len;
      const TokenSetId kv_pos = b_.find_token_set(TokenSet{{Chunk{0, visible, 1}}});
      op(Stream::compute, 1,
         b_.attend(TokenSlice{b_.buffer_named(r_, "q"), 0, c_, b_.owned(r_)}, TokenSlice{all_, 0, visible, kv_pos},
                   b_.buffer_named(r_, "out"), b_.buffer_named(r_, "lse")),
         {last_});
    }
    return true;
  }

 private:
  [[nodiscard]] ByteSlice block(int owner) const { return ByteSlice{all_, kv_ * owner, kv_}; }
  const Builder& b_;
  int P_, r_;
  std::int64_t c_;
  Bytes kv_;
  BufferId all_;
  int k_ = 0;  // 0: the copy; 1 .. P-1: ring step k-1; P: the attention
  OpId last_ = 0;
};

/// Rank r a step at a time, into the generator's batch buffer, whose Op objects are reused from step to
/// step. The emitter lives inside the cursor: a consumer streaming thousands of ranks reads both at
/// every step, and one allocation is one place to find (and prefetch) where two were two misses.
template <class E>
class EmitterCursor final : public OpCursor {
 public:
  EmitterCursor(E e, std::vector<Op>& batch) : e_(std::move(e)), batch_(batch) {}
  std::span<const Op> next() override {
    OpWriter writer(batch_, next_id_);
    while (writer.count() == 0 && e_.step(writer)) {
    }
    next_id_ += static_cast<OpId>(writer.count());
    return {batch_.data(), writer.count()};
  }
  [[nodiscard]] std::size_t size_hint() const override { return e_.size_hint(); }

 private:
  E e_;
  std::vector<Op>& batch_;
  OpId next_id_ = 0;
};

struct Variant {
  std::string name;
  std::int64_t chunks_per_rank;  // seq_len must divide by ranks * this
  std::function<void(Builder&, int)> setup;
  std::function<std::unique_ptr<Emitter>(const Builder&, int P, int r)> emitter;
  std::function<std::unique_ptr<OpCursor>(const Builder&, int P, int r, std::vector<Op>& batch)> cursor;
  unsigned streams;             // the streams its programs use (ScheduleSource::streams_used)
  bool phases_in_order = true;  // every rank's ops in non-decreasing phase order
};

/// A variant whose emitter for rank r is make(builder, P, r).
template <class Make>
Variant make_variant(std::string name, std::int64_t chunks_per_rank, void (*setup)(Builder&, int), Make make,
                     unsigned streams) {
  using E = decltype(make(std::declval<const Builder&>(), 0, 0));
  return Variant{std::move(name), chunks_per_rank, setup,
                 [make](const Builder& b, int P, int r) -> std::unique_ptr<Emitter> {
                   return std::make_unique<E>(make(b, P, r));
                 },
                 [make](const Builder& b, int P, int r, std::vector<Op>& batch) -> std::unique_ptr<OpCursor> {
                   return std::make_unique<EmitterCursor<E>>(make(b, P, r), batch);
                 },
                 streams};
}

constexpr unsigned kComputeComm = stream_bit(Stream::compute) | stream_bit(Stream::comm);

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      make_variant("ring", 1, ring_setup, [](const Builder& b, int P, int r) { return RingEmitter(b, P, r, true); },
                   kComputeComm),
      make_variant("ring_serial", 1, ring_setup,
                   [](const Builder& b, int P, int r) { return RingEmitter(b, P, r, false); }, kComputeComm),
      make_variant("allgather", 1, allgather_setup,
                   [](const Builder& b, int P, int r) { return AllgatherEmitter(b, P, r); }, kComputeComm),
  };
  return v;
}

const Variant* find_variant(const std::string& name) {
  for (const auto& v : variants())
    if (v.name == name) return &v;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& variant_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& v : variants()) n.push_back(v.name);
    return n;
  }();
  return names;
}

std::string check_spec(const Workload& w, const ScheduleSpec& spec, std::string& field) {
  const Variant* v = find_variant(spec.variant);
  if (v == nullptr) {
    field = "schedule.variant";
    return fmt::format("unknown variant '{}' (known: {})", spec.variant, fmt::join(variant_names(), ", "));
  }
  auto bad = [&](const char* f, std::string msg) {
    field = f;
    return msg;
  };
  if (spec.ranks < 1) return bad("schedule.ranks", fmt::format("ranks must be at least 1, got {}", spec.ranks));
  if (!spec.options.empty())
    return bad("schedule.options", fmt::format("variant '{}' takes no options, got '{}'", spec.variant,
                                               spec.options.begin()->first));
  if (w.batch < 1) return bad("workload.batch", fmt::format("batch must be at least 1, got {}", w.batch));
  if (w.q_heads < 1) return bad("workload.q_heads", fmt::format("q_heads must be at least 1, got {}", w.q_heads));
  if (w.kv_heads < 1) return bad("workload.kv_heads", fmt::format("kv_heads must be at least 1, got {}", w.kv_heads));
  if (w.q_heads % w.kv_heads != 0)
    return bad("workload.kv_heads",
               fmt::format("kv_heads ({}) must divide q_heads ({}) for GQA", w.kv_heads, w.q_heads));
  if (w.head_dim < 1) return bad("workload.head_dim", fmt::format("head_dim must be at least 1, got {}", w.head_dim));
  if (w.window < 0) return bad("workload.window", fmt::format("window must be 0 (none) or positive, got {}", w.window));
  if (w.dilation != 1)
    return bad("workload.dilation", fmt::format("variant '{}' supports only dilation 1, got {}", spec.variant,
                                                w.dilation));
  if (w.pass != Pass::forward)
    return bad("workload.pass", fmt::format("variant '{}' generates the forward pass only", spec.variant));
  const std::int64_t chunks = spec.ranks * v->chunks_per_rank;
  if (w.seq_len < chunks || w.seq_len % chunks != 0)
    return bad("workload.seq_len", fmt::format("seq_len ({}) must be a positive multiple of {} ({} ranks x {} chunk{} "
                                               "per rank) for variant '{}'",
                                               w.seq_len, chunks, spec.ranks, v->chunks_per_rank,
                                               v->chunks_per_rank == 1 ? "" : "s", spec.variant));
  return {};
}

struct ScheduleGenerator::State {
  State(const Workload& w, const ScheduleSpec& spec) : builder(w, spec), variant(find_variant(spec.variant)), ranks(spec.ranks) {}
  Builder builder;
  const Variant* variant;
  int ranks;
  // Every cursor's batch, one at a time (OpCursor::next): one buffer stays in cache where one per rank
  // would be thousands of cold ones, each written every step.
  std::vector<Op> batch;
};

ScheduleGenerator::ScheduleGenerator(const Workload& w, const ScheduleSpec& spec) {
  std::string field;
  if (auto why = check_spec(w, spec, field); !why.empty()) throw ValidationError(fmt::format("{}: {}", field, why));
  state_ = std::make_unique<State>(w, spec);
  state_->variant->setup(state_->builder, spec.ranks);
}

ScheduleGenerator::~ScheduleGenerator() = default;

const Schedule& ScheduleGenerator::header() const { return state_->builder.schedule(); }

namespace {
// Rank r's whole program into `ops`.
void emit_all(const Builder& b, const Variant& v, int P, std::size_t r, std::vector<Op>& ops) {
  const auto e = v.emitter(b, P, static_cast<int>(r));
  ops.clear();
  ops.reserve(e->size_hint());
  OpWriter writer(ops, 0);
  while (e->step(writer)) {
  }
}
}  // namespace

const RankProgram& ScheduleGenerator::rank(std::size_t r, RankProgram& scratch) const {
  const auto& header = state_->builder.schedule();
  if (r >= header.ranks.size()) throw Error(fmt::format("generator: no rank {} (of {})", r, header.ranks.size()));
  scratch.buffers = header.ranks[r].buffers;
  emit_all(state_->builder, *state_->variant, state_->ranks, r, scratch.ops);
  return scratch;
}

std::unique_ptr<OpCursor> ScheduleGenerator::cursor(std::size_t r) const {
  const auto& header = state_->builder.schedule();
  if (r >= header.ranks.size()) throw Error(fmt::format("generator: no rank {} (of {})", r, header.ranks.size()));
  return state_->variant->cursor(state_->builder, state_->ranks, static_cast<int>(r), state_->batch);
}

unsigned ScheduleGenerator::streams_used(std::size_t /*r*/) const { return state_->variant->streams; }

bool ScheduleGenerator::phases_in_order() const { return state_->variant->phases_in_order; }

Schedule ScheduleGenerator::take() && {
  // Each rank's ops go straight into the header's own rank (emitters read only buffers, token sets and
  // the partition), then the whole schedule moves out.
  Schedule& s = state_->builder.schedule();
  for (std::size_t r = 0; r < s.ranks.size(); ++r) emit_all(state_->builder, *state_->variant, state_->ranks, r, s.ranks[r].ops);
  return std::move(s);
}

Schedule generate(const Workload& w, const ScheduleSpec& spec) { return ScheduleGenerator(w, spec).take(); }

Flops attend_flops(const Workload& w, const TokenSet& q, const TokenSet& kv) { return block_figures(w, q, kv).flops; }

Mask mask_relation(const Workload& w, const TokenSet& q, const TokenSet& kv) { return block_figures(w, q, kv).mask; }

BlockFigures block_figures(const Workload& w, const TokenSet& q, const TokenSet& kv) {
  const std::int64_t weight = set_weight(w, q, kv);
  return {!w.causal && w.window == 0 ? Mask::full : relation(weight, token_count(q), token_count(kv)), flops_of(w, weight)};
}

}  // namespace ringlab::ir
