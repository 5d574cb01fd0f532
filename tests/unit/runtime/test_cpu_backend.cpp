#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "helpers.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/trace/summary.hpp"

using namespace ringlab;
using namespace ringlab::runtime;

namespace {

/// Checks the executor's semantics on a finished trace: ops of one stream run one after another in
/// issue order, and every op starts after its deps ended.
void check_trace_semantics(const ir::Schedule& s, const trace::Trace& t) {
  REQUIRE(t.records.size() == [&] {
    std::size_t n = 0;
    for (const auto& p : s.ranks) n += p.ops.size();
    return n;
  }());
  std::vector<std::vector<const trace::OpRecord*>> by_rank(s.ranks.size());
  for (const auto& r : t.records) {
    CHECK(r.end >= r.start);
    auto& v = by_rank[static_cast<std::size_t>(r.rank)];
    if (v.size() <= r.op) v.resize(r.op + 1);
    v[r.op] = &r;
  }
  for (std::size_t rank = 0; rank < s.ranks.size(); ++rank) {
    const auto& ops = s.ranks[rank].ops;
    std::array<const trace::OpRecord*, 4> last{};
    for (const auto& op : ops) {
      const auto* rec = by_rank[rank][op.id];
      REQUIRE(rec != nullptr);
      CHECK(rec->kind == ir::kind_name(op.kind));
      for (const auto d : op.deps) CHECK(by_rank[rank][d]->end <= rec->start);
      // Stream order: an op that is not in the previous op's group starts after the previous ended.
      auto& prev = last[static_cast<std::size_t>(op.stream)];
      if (prev != nullptr && (op.group == 0 || ops[prev->op].group != op.group)) CHECK(prev->end <= rec->start);
      prev = rec;
    }
  }
}

}  // namespace

namespace {
/// Runs one generator over P in {1,2,3,4,8}, causal or not, MHA (4/4) and GQA (4/2) heads; returns
/// the worst relative error.
double sweep(const std::string& variant) {
  double worst = 0;
  int runs = 0;
  for (const std::int32_t P : {1, 2, 3, 4, 8}) {
    for (const bool causal : {false, true}) {
      for (const std::int64_t kv_heads : {4, 2}) {
        const auto w = test::small_workload(48, 4, kv_heads, causal);
        const auto s = test::make_schedule(w, variant, P);
        CAPTURE(variant);
        CAPTURE(P);
        CAPTURE(causal);
        CAPTURE(kv_heads);
        ir::validate(s);
        CpuBackend backend;
        const auto r = test::run_verified(s, backend, static_cast<std::uint64_t>(P));
        INFO(r.report.message);
        CHECK(r.report.passed);
        CHECK(r.report.max_rel_error < 1e-5);
        CHECK(r.report.max_lse_abs_error < 1e-5);
        CHECK(r.trace.schedule_hash == ir::schedule_hash(s));
        CHECK(r.trace.source == "cpu");
        CHECK(r.trace.ranks == P);
        check_trace_semantics(s, r.trace);
        worst = std::max(worst, r.report.max_rel_error);
        ++runs;
      }
    }
  }
  CHECK(runs == 20);
  MESSAGE(fmt::format("{}: worst relative error over {} runs: {:.3e}", variant, runs, worst));
  return worst;
}
}  // namespace

TEST_CASE("cpu backend: ring, P in {1,2,3,4,8}, causal or not, MHA and GQA matches the reference") {
  CHECK(sweep("ring") < 1e-5);
}

TEST_CASE("cpu backend: ring_serial, P in {1,2,3,4,8}, causal or not, MHA and GQA matches the reference") {
  CHECK(sweep("ring_serial") < 1e-5);
}

// The token-major kv layout makes each rank's K,V rows one contiguous byte range of kv_all, which the
// all-gather moves with a single send per step.
TEST_CASE("cpu backend: allgather, P in {1,2,3,4,8}, causal or not, MHA and GQA matches the reference") {
  CHECK(sweep("allgather") < 1e-5);
}

TEST_CASE("cpu backend: batch > 1, sliding windows and a longer sequence verify too") {
  struct Case {
    std::string variant;
    std::int32_t P;
    std::int64_t seq, batch, window;
    bool causal;
  };
  for (const auto& c : {Case{"ring", 4, 96, 2, 0, true}, Case{"ring", 3, 96, 1, 20, true},
                        Case{"ring_serial", 4, 64, 2, 12, false}}) {
    CAPTURE(c.variant);
    CAPTURE(c.P);
    CAPTURE(c.window);
    const auto s = test::make_schedule(test::small_workload(c.seq, 4, 2, c.causal, c.batch, c.window), c.variant, c.P);
    CpuBackend backend;
    const auto r = test::run_verified(s, backend, 42);
    INFO(r.report.message);
    CHECK(r.report.passed);
    check_trace_semantics(s, r.trace);
  }
}

namespace {
/// A deliberately wrong backend: "merges" by summing partial outputs, the classic ring attention bug.
class SummingBackend : public CpuBackend {
 protected:
  void merge_kernel(std::int32_t rank, const ir::Merge& op) override {
    const auto& w = schedule().workload;
    auto out = mutable_buffer(rank, op.out);
    const auto part = buffer(rank, op.partial_out);
    const auto row = static_cast<std::size_t>(w.q_heads * w.head_dim);
    const auto tokens = static_cast<std::size_t>(schedule().ranks[static_cast<std::size_t>(rank)].buffers[op.out].tokens);
    for (std::size_t b = 0; b < static_cast<std::size_t>(w.batch); ++b)
      for (std::size_t i = 0; i < static_cast<std::size_t>(op.rows); ++i)
        for (std::size_t e = 0; e < row; ++e) out[(b * tokens + i) * row + e] += part[(b * tokens + i) * row + e];
  }
};
}  // namespace

TEST_CASE("cpu backend: verification catches a plain sum in place of the log-sum-exp merge") {
  for (const bool causal : {false, true}) {
    const auto s = test::make_schedule(test::small_workload(48, 4, 2, causal), "ring", 4);
    SummingBackend wrong;
    const auto bad = test::run_verified(s, wrong);
    CHECK_FALSE(bad.report.passed);
    CHECK(bad.report.max_rel_error > 1e-2);
    CHECK(bad.report.message.rfind("FAILED", 0) == 0);
    CpuBackend right;
    CHECK(test::run_verified(s, right).report.passed);
  }
}

TEST_CASE("cpu backend: verification catches a single wrong element") {
  const auto s = test::make_schedule(test::small_workload(48, 4, 2, true), "ring", 2);
  CpuBackend backend;
  const auto inputs = make_inputs(s.workload, 3);
  backend.allocate(s);
  load_inputs(s, inputs, backend);
  (void)execute(s, backend);
  const auto ref = reference_attention(inputs);
  REQUIRE(verify(s, backend, ref).passed);
  std::vector<float> x(1);
  backend.read_buffer(1, 3, 100, x);  // buffer 3 of the ring is "out"
  x[0] += 1e-3F;
  backend.write_buffer(1, 3, 100, x);
  const auto rep = verify(s, backend, ref);
  CHECK_FALSE(rep.passed);
  CHECK(rep.worst_rank == 1);
}

namespace {
/// One rank with out/lse and partial_out/partial_lse of 2 rows x 1 head x d = 2, merged once.
ir::Schedule merge_schedule() {
  ir::Schedule s;
  s.variant = "hand";
  s.workload = test::small_workload(2, 1, 1, false);
  s.workload.head_dim = 2;
  s.token_sets = {ir::TokenSet{{ir::Chunk{0, 2, 1}}}};
  s.partition.owned = {0};
  ir::RankProgram p;
  p.buffers = {ir::Buffer{"out", ir::BufferRole::out, ir::DType::fp32, 2, Bytes(16)},
               ir::Buffer{"lse", ir::BufferRole::lse, ir::DType::fp32, 2, Bytes(8)},
               ir::Buffer{"pout", ir::BufferRole::partial_out, ir::DType::fp32, 2, Bytes(16)},
               ir::Buffer{"plse", ir::BufferRole::partial_lse, ir::DType::fp32, 2, Bytes(8)}};
  ir::Op op;
  op.kind = ir::Merge{0, 1, 2, 3, 0, 0, 2, 0, 1};
  p.ops.push_back(op);
  s.ranks.push_back(p);
  return s;
}
}  // namespace

TEST_CASE("cpu backend: merge by log-sum-exp, and -inf on either side gives no NaN") {
  const auto s = merge_schedule();
  CpuBackend b;
  b.allocate(s);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> out = {1, 2, 5, 6};
  const std::vector<float> pout = {3, 4, 7, 8};
  // Row 0: lse 0 and log 3 -> weights 1/4, 3/4. Row 1: accumulator empty (-inf) -> takes the partial.
  b.write_buffer(0, 0, 0, out);
  b.write_buffer(0, 1, 0, std::vector<float>{0.0F, -inf});
  b.write_buffer(0, 2, 0, pout);
  b.write_buffer(0, 3, 0, std::vector<float>{std::log(3.0F), 1.5F});
  (void)execute(s, b);
  const auto o = b.buffer(0, 0);
  const auto l = b.buffer(0, 1);
  CHECK(o[0] == doctest::Approx(0.25 * 1 + 0.75 * 3));
  CHECK(o[1] == doctest::Approx(0.25 * 2 + 0.75 * 4));
  CHECK(l[0] == doctest::Approx(std::log(4.0)));
  CHECK(o[2] == 7.0F);
  CHECK(o[3] == 8.0F);
  CHECK(l[1] == 1.5F);

  // Partial empty (-inf): accumulator unchanged; both empty: still -inf, no NaN anywhere.
  CpuBackend b2;
  b2.allocate(s);
  b2.write_buffer(0, 0, 0, out);
  b2.write_buffer(0, 1, 0, std::vector<float>{0.5F, -inf});
  b2.write_buffer(0, 2, 0, pout);
  b2.write_buffer(0, 3, 0, std::vector<float>{-inf, -inf});
  (void)execute(s, b2);
  const auto o2 = b2.buffer(0, 0);
  const auto l2 = b2.buffer(0, 1);
  CHECK(o2[0] == 1.0F);
  CHECK(o2[1] == 2.0F);
  CHECK(l2[0] == 0.5F);
  CHECK(l2[1] == -inf);
  for (const float x : o2) CHECK_FALSE(std::isnan(x));
}

TEST_CASE("cpu backend: refuses more than 64 ranks and schedules above the host memory bound") {
  ir::Schedule many;
  many.ranks.resize(65);
  CpuBackend b;
  CHECK_THROWS_WITH_AS(b.allocate(many), doctest::Contains("at most 64 ranks"), Error);

  const auto s = test::make_schedule(test::small_workload(96, 4, 2, true), "ring", 4);
  const Bytes need = CpuBackend::host_bytes(s);
  // 4 ranks x (q 24x4x16 + 2 kv slots 2x24x2x16 + out + partial_out + 2 lse 24x4) float32 elements.
  CHECK(need.value == 4 * 4 * (3 * 24 * 4 * 16 + 2 * 2 * 24 * 2 * 16 + 2 * 24 * 4));
  CpuBackend small(CpuBackendOptions{Bytes(need.value / 2)});
  CHECK_THROWS_WITH_AS(small.allocate(s), doctest::Contains("--set workload.seq_len=48"), Error);
  CpuBackend exact(CpuBackendOptions{need});
  CHECK_NOTHROW(exact.allocate(s));
}
