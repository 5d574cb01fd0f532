// Generators: counts, bytes and FLOPs derived by hand from the schedule structure.
#include <doctest/doctest.h>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/ir/validate.hpp"

using namespace ringlab;
using namespace ringlab::ir;

namespace {
Workload small(bool causal, std::int64_t seq = 96, std::int64_t kv_heads = 4) {
  Workload w;
  w.batch = 2;
  w.seq_len = seq;
  w.q_heads = 4;
  w.kv_heads = kv_heads;
  w.head_dim = 16;
  w.dtype = DType::bf16;
  w.causal = causal;
  return w;
}
ScheduleSpec spec(const char* variant, int P) { return ScheduleSpec{variant, P, {}}; }
std::int64_t count_kind(const RankProgram& p, const char* kind) {
  std::int64_t n = 0;
  for (const auto& op : p.ops) n += std::string(kind_name(op.kind)) == kind ? 1 : 0;
  return n;
}
Flops total_flops(const Schedule& s) {
  Flops f{0};
  for (std::size_t r = 0; r < s.ranks.size(); ++r) f += rank_totals(s, r).flops;
  return f;
}
}  // namespace

TEST_CASE("attend_flops follows the FlashAttention convention") {
  auto w = small(false);
  w.batch = 1;
  w.q_heads = 1;
  w.head_dim = 1;
  const TokenSet a{{{0, 4, 1}}};
  // Non-causal 4x4 block: 4 * 16 pairs = 64.
  CHECK(attend_flops(w, a, a).value == 64);
  w.causal = true;
  // Causal diagonal: exactly half of 64 (6 pairs below the diagonal, 4 on it at half weight: 4*(6+2)).
  CHECK(attend_flops(w, a, a).value == 32);
  CHECK(mask_relation(w, a, a) == Mask::partial);
  const TokenSet later{{{4, 4, 1}}};
  CHECK(attend_flops(w, later, a).value == 64);  // earlier keys: full block
  CHECK(mask_relation(w, later, a) == Mask::full);
  CHECK(attend_flops(w, a, later).value == 0);  // later keys: skipped
  CHECK(mask_relation(w, a, later) == Mask::skip);
  // Striped (P = 2, L = 8): rank 1 holds {1,3,5,7}, rank 0 holds {0,2,4,6}; keys below each query:
  // 1 + 2 + 3 + 4 = 10 pairs, no diagonal -> 40 FLOPs; the reverse: 0+1+2+3 = 6 pairs -> 24.
  const TokenSet odd{{{1, 4, 2}}}, even{{{0, 4, 2}}};
  CHECK(attend_flops(w, odd, even).value == 40);
  CHECK(attend_flops(w, even, odd).value == 24);
  CHECK(attend_flops(w, even, even).value == 32);  // own stripe: a diagonal, half of 64
  // Causal window 2 on [0,4): q attends (q-2, q]; half-units 1, 3, 3, 3 = 10 -> 2*10 = 20 FLOPs.
  w.window = 2;
  CHECK(attend_flops(w, a, a).value == 20);
  // Non-causal window 2 (two-sided, |q-k| < 2): 2+3+3+2 = 10 pairs -> 40.
  w.causal = false;
  CHECK(attend_flops(w, a, a).value == 40);
}

TEST_CASE("ring: ops, transfers and bytes per rank") {
  for (int P : {1, 2, 3, 4, 8}) {
    for (bool causal : {false, true}) {
      CAPTURE(P);
      CAPTURE(causal);
      const auto w = small(causal, 96, 2);
      const auto s = generate(w, spec("ring", P));
      REQUIRE(s.ranks.size() == static_cast<std::size_t>(P));
      const std::int64_t c = 96 / P;
      const Bytes kv(2 * w.batch * c * w.kv_heads * w.head_dim * 2);
      Bytes sent{0};
      for (int r = 0; r < P; ++r) {
        const auto& prog = s.ranks[static_cast<std::size_t>(r)];
        CHECK(count_kind(prog, "send") == P - 1);
        CHECK(count_kind(prog, "recv") == P - 1);
        CHECK(count_kind(prog, "attend") == P);
        // Non-causal: every step after the first merges; causal contiguous: only blocks of earlier ranks (r of them).
        CHECK(count_kind(prog, "merge") == (causal ? r : P - 1));
        sent += rank_totals(s, static_cast<std::size_t>(r)).sent;
      }
      CHECK(sent == kv * (static_cast<std::int64_t>(P) * (P - 1)));
      CHECK_NOTHROW(validate(s));
    }
  }
}

TEST_CASE("every variant computes exactly the whole attention's FLOPs") {
  for (const auto& variant : variant_names()) {
    for (int P : {1, 2, 3, 4, 8}) {
      for (bool causal : {false, true}) {
        CAPTURE(variant);
        CAPTURE(P);
        const auto w = small(causal, 96, 1);
        const auto s = generate(w, ScheduleSpec{variant, P, {}});
        // 4*B*H*L^2*d = 4*2*4*96*96*16 = 4718592; causal: half.
        CHECK(total_flops(s).value == (causal ? 2359296 : 4718592));
        CHECK_NOTHROW(validate(s));
      }
    }
  }
}

TEST_CASE("every attention block's FLOPs and mask are those of the token sets it names") {
  // The generators weigh blocks from cached or computed chunks (Builder::owned_set): each must agree
  // with the sets the op's slices name, as a reader of the IR weighs them.
  for (const auto& variant : variant_names()) {
    for (int P : {1, 2, 3, 4, 8}) {
      for (const std::int64_t window : {0, 20}) {
        for (bool causal : {false, true}) {
          CAPTURE(variant);
          CAPTURE(P);
          CAPTURE(window);
          CAPTURE(causal);
          auto w = small(causal, 96, 1);
          w.window = window;
          const auto s = generate(w, ScheduleSpec{variant, P, {}});
          std::int64_t blocks = 0;
          for (const auto& rank : s.ranks) {
            for (const auto& op : rank.ops) {
              const auto* a = std::get_if<Attend>(&op.kind);
              if (a == nullptr) continue;
              ++blocks;
              const TokenSet& q = s.token_sets.at(a->q.positions);
              const TokenSet& kv = s.token_sets.at(a->kv.positions);
              const Flops f = attend_flops(w, q, kv);
              CHECK(a->flops == f);
              const Flops full(4 * w.batch * w.q_heads * w.head_dim * token_count(q) * token_count(kv));
              CHECK(a->mask == (f.value == 0 ? Mask::skip : f == full ? Mask::full : Mask::partial));
            }
          }
          CHECK(blocks >= P);
        }
      }
    }
  }
}

TEST_CASE("causal contiguous ring: the last rank does P-1 full blocks and one half") {
  const int P = 8;
  const auto w = small(true, 96, 4);
  const auto s = generate(w, spec("ring", P));
  const std::int64_t c = 96 / P;
  const std::int64_t block = 4 * w.batch * w.q_heads * c * c * w.head_dim;
  CHECK(rank_totals(s, P - 1).flops.value == block * (P - 1) + block / 2);
  CHECK(rank_totals(s, 0).flops.value == block / 2);
  std::int64_t skipped = 0;
  for (const auto& op : s.ranks[0].ops)
    if (const auto* a = std::get_if<Attend>(&op.kind); a && a->mask == Mask::skip) ++skipped;
  CHECK(skipped == P - 1);  // rank 0 sees only later blocks after its own, yet still forwards them
}

TEST_CASE("ring overlaps, ring_serial does not") {
  const auto w = small(false, 64);
  const auto ring_s = generate(w, spec("ring", 4));
  const auto serial = generate(w, spec("ring_serial", 4));
  // ring: the step-0 send has no dependency (it runs beside step 0's attend);
  // ring_serial: every send waits for the compute of its step.
  for (const auto& op : ring_s.ranks[1].ops)
    if (std::holds_alternative<Send>(op.kind) && op.phase == 0) CHECK(op.deps.empty());
  for (const auto& op : serial.ranks[1].ops)
    if (std::holds_alternative<Send>(op.kind)) {
      REQUIRE(op.deps.size() == 1);
      CHECK(serial.ranks[1].ops[op.deps[0]].stream == Stream::compute);
      CHECK(serial.ranks[1].ops[op.deps[0]].phase == op.phase);
    }
}

TEST_CASE("allgather holds all of K,V; the ring holds two slots") {
  const int P = 8;
  const auto w = small(false, 96, 4);
  const std::int64_t c = 96 / P;
  const std::int64_t kv_block = 2 * w.batch * c * w.kv_heads * w.head_dim * 2;
  const auto ag = generate(w, spec("allgather", P));
  const auto ring_s = generate(w, spec("ring", P));
  std::int64_t ag_kv = 0, ring_kv = 0;
  for (const auto& b : ag.ranks[0].buffers) ag_kv += b.role == BufferRole::kv ? b.bytes.value : 0;
  for (const auto& b : ring_s.ranks[0].buffers) ring_kv += b.role == BufferRole::kv ? b.bytes.value : 0;
  CHECK(ag_kv == kv_block * (P + 1));  // local block + the gathered L tokens
  CHECK(ring_kv == kv_block * 2);      // two slots
  Bytes sent{0};
  for (std::size_t r = 0; r < ag.ranks.size(); ++r) sent += rank_totals(ag, r).sent;
  CHECK(sent.value == kv_block * P * (P - 1));
}

TEST_CASE("impossible specs are refused with the offending field") {
  std::string field;
  auto w = small(false, 96);
  CHECK(check_spec(w, spec("ring", 0), field) == "ranks must be at least 1, got 0");
  CHECK(field == "schedule.ranks");
  CHECK(check_spec(w, spec("ring", 7), field) ==
        "seq_len (96) must be a positive multiple of 7 (7 ranks x 1 chunk per rank) for variant 'ring'");
  CHECK(field == "workload.seq_len");
  CHECK(check_spec(w, spec("zigzag_typo", 2), field).rfind("unknown variant 'zigzag_typo'", 0) == 0);
  w.kv_heads = 3;
  CHECK(check_spec(w, spec("ring", 2), field) == "kv_heads (3) must divide q_heads (4) for GQA");
  CHECK(field == "workload.kv_heads");
  CHECK_THROWS_AS((void)generate(w, spec("ring", 2)), ValidationError);
}

TEST_CASE("ScheduleGenerator gives generate()'s schedule one rank at a time, and the same hash") {
  for (const auto& variant : variant_names()) {
    for (const bool causal : {false, true}) {
      for (const int P : {1, 2, 5, 8}) {
        CAPTURE(variant);
        CAPTURE(causal);
        CAPTURE(P);
        Workload w;
        w.seq_len = 40 * P;
        w.q_heads = 4;
        w.kv_heads = 2;
        w.head_dim = 16;
        w.causal = causal;
        ScheduleSpec spec;
        spec.variant = variant;
        spec.ranks = P;
        const Schedule whole = generate(w, spec);
        const ScheduleGenerator gen(w, spec);
        const Schedule& head = gen.header();
        CHECK(head.variant == whole.variant);
        CHECK(head.workload == whole.workload);
        CHECK(head.partition == whole.partition);
        CHECK(head.token_sets == whole.token_sets);
        REQUIRE(head.ranks.size() == whole.ranks.size());
        RankProgram scratch;
        // Out of order and twice: each rank's program depends on nothing but the header.
        for (int r = P - 1; r >= 0; --r) {
          const auto& prog = gen.rank(static_cast<std::size_t>(r), scratch);
          CHECK(head.ranks[static_cast<std::size_t>(r)].ops.empty());
          CHECK(prog == whole.ranks[static_cast<std::size_t>(r)]);
        }
        CHECK(gen.rank(0, scratch) == whole.ranks[0]);
        CHECK(schedule_hash(gen) == schedule_hash(whole));
        CHECK(schedule_hash(StoredSource(whole)) == schedule_hash(whole));
        // Cursors: every rank's ops, read a batch of each rank in turn (as the simulator does), are
        // exactly its program; batches are steps (at most a ring step's four ops), ids run on; the
        // declared streams and the phase order hold.
        const StoredSource stored(whole);
        CHECK(gen.phases_in_order());
        CHECK(stored.phases_in_order());
        std::vector<std::unique_ptr<OpCursor>> cursors;
        std::vector<std::vector<Op>> got(static_cast<std::size_t>(P));
        for (int r = 0; r < P; ++r) cursors.push_back(gen.cursor(static_cast<std::size_t>(r)));
        for (bool more = true; more;) {
          more = false;
          for (std::size_t r = 0; r < got.size(); ++r) {
            const auto batch = cursors[r]->next();
            CHECK(batch.size() <= 4);
            for (const auto& op : batch) {
              CHECK(op.id == got[r].size());
              CHECK((gen.streams_used(r) & stream_bit(op.stream)) != 0);
              got[r].push_back(op);
            }
            more = more || !batch.empty();
          }
        }
        for (std::size_t r = 0; r < got.size(); ++r) {
          CHECK(got[r] == whole.ranks[r].ops);
          CHECK(cursors[r]->next().empty());  // and stays done
          // The size hint is at least the program's size (a consumer reserves by it), and not wildly more.
          CHECK(cursors[r]->size_hint() >= got[r].size());
          CHECK(cursors[r]->size_hint() <= 2 * got[r].size() + 8);
          CHECK(stored.cursor(r)->size_hint() == got[r].size());
          CHECK((stored.streams_used(r) & ~gen.streams_used(r)) == 0);
          std::vector<Op> sliced;
          const auto sc = stored.cursor(r);
          for (auto b = sc->next(); !b.empty(); b = sc->next()) sliced.insert(sliced.end(), b.begin(), b.end());
          CHECK(sliced == whole.ranks[r].ops);
        }
      }
    }
  }
}

TEST_CASE("ScheduleGenerator refuses what generate() refuses, and ranks it does not have") {
  Workload w;
  w.seq_len = 100;
  w.q_heads = 4;
  w.kv_heads = 2;
  w.head_dim = 16;
  ScheduleSpec spec;
  spec.ranks = 3;  // 100 tokens do not split in 3
  CHECK_THROWS_WITH_AS(ScheduleGenerator(w, spec), doctest::Contains("workload.seq_len"), ValidationError);
  spec.ranks = 4;
  const ScheduleGenerator gen(w, spec);
  RankProgram scratch;
  CHECK_THROWS_WITH_AS((void)gen.rank(4, scratch), doctest::Contains("no rank 4"), Error);
  CHECK_THROWS_WITH_AS((void)gen.cursor(4), doctest::Contains("no rank 4"), Error);
}

TEST_CASE("StoredSource: streams used and phase order come from the stored ops") {
  Schedule s = generate(small(true), ScheduleSpec{"ring", 4, {}});
  const StoredSource src(s);
  CHECK(src.streams_used(0) == (stream_bit(Stream::compute) | stream_bit(Stream::comm)));
  CHECK(src.phases_in_order());
  std::swap(s.ranks[1].ops[0].phase, s.ranks[1].ops.back().phase);
  CHECK_FALSE(src.phases_in_order());
  s.ranks[2].ops[0].stream = Stream::comm_aux;
  CHECK((src.streams_used(2) & stream_bit(Stream::comm_aux)) != 0);
}

TEST_CASE("ScheduleHasher: rank by rank equals the whole, and refuses a wrong number of ranks") {
  const Schedule s = generate(small(true), ScheduleSpec{"ring", 4, {}});
  ScheduleHasher h(s);
  for (const auto& r : s.ranks) h.add_rank(r);
  CHECK(h.value() == schedule_hash(s));
  CHECK_THROWS_AS(h.add_rank(s.ranks[0]), std::logic_error);  // a fifth rank
  ScheduleHasher short_of_one(s);
  for (std::size_t r = 0; r + 1 < s.ranks.size(); ++r) short_of_one.add_rank(s.ranks[r]);
  CHECK_THROWS_AS((void)short_of_one.value(), std::logic_error);
  // Different programs, different hashes (the ranks are really fed).
  ScheduleHasher swapped(s);
  swapped.add_rank(s.ranks[1]);
  swapped.add_rank(s.ranks[0]);
  swapped.add_rank(s.ranks[2]);
  swapped.add_rank(s.ranks[3]);
  CHECK(swapped.value() != schedule_hash(s));
}
