// Faithfulness: every expected value below is derived by hand from the model's own formulas.
// Units (see helpers.hpp): MHA, d = 128, bf16, batch 1; at F = 1 TFLOP/s and W = 1 GB/s a c x c block
// computes in C = 512 c^2 ps and its K,V block (512 c bytes) moves in T = 512000 c ps. So the
// transfer hides exactly when c >= F/W = 1000 tokens (Liu et al. 2023's condition for MHA in bf16).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/sim/adapters.hpp"
#include "ringlab/sim/report.hpp"
#include "ringlab/trace/chrome.hpp"
#include "ringlab/trace/summary.hpp"

using namespace ringlab;
using namespace ringlab::sim;
using namespace ringlab::sim::testing;

namespace {
constexpr double kW = 1e9;  // bytes per second of every star link
std::int64_t C(std::int64_t c) { return 512 * c * c; }
std::int64_t T(std::int64_t c) { return 512000 * c; }

SimResult run_variant(const std::string& variant, std::int32_t P, std::int64_t c, bool causal = false,
                      SimpleCostModel::Params params = unit_params()) {
  const auto s = make(mha(P * c, causal), variant, P);
  const auto platform = star(P, Bandwidth(kW));
  const SimpleCostModel cost(params);
  return simulate(s, platform, identity(P), cost);
}
}  // namespace

TEST_CASE("ring, idle NVSwitch, non-causal: every step is max(compute, transfer) exactly") {
  // Step s < P-1 runs attend s beside the transfer of the next block; step P-1 has no transfer.
  // So phases 0..P-2 take max(C, T), the last C, and the total is (P-1) max(C, T) + C.
  for (const std::int64_t c : {2000, 1000, 500}) {
    CAPTURE(c);
    const std::int32_t P = 4;
    const auto res = run_variant("ring", P, c);
    const std::int64_t step = std::max(C(c), T(c));
    REQUIRE(res.phases.size() == 4);
    for (std::uint32_t p = 0; p + 1 < 4; ++p) {
      CHECK(res.phases[p].time.value == step);
      CHECK(res.phases[p].compute.value == C(c));
      CHECK(res.phases[p].comm.value == T(c));
      CHECK(res.phases[p].exposed_comm.value == std::max<std::int64_t>(0, T(c) - C(c)));
    }
    CHECK(res.phases[3].time.value == C(c));
    CHECK(res.total.value == 3 * step + C(c));
    // The summary the CLI prints (trace::summarize, shared with the runtime) agrees: every rank's
    // phase s ops (transfer s, attend s, merge s) span [sX, (s+1)X].
    const auto s = make(mha(P * c), "ring", P);
    const auto sum = make_summary(res, s);
    REQUIRE(sum.phases.size() == 4);
    for (std::uint32_t p = 0; p + 1 < 4; ++p) CHECK(sum.phases[p].time_s == doctest::Approx(1e-12 * static_cast<double>(step)));
    CHECK(sum.total_time_s == doctest::Approx(1e-12 * static_cast<double>(3 * step + C(c))));
    CHECK(sum.schedule_hash == ir::schedule_hash(s));
    // One GPU does the whole L x L = (Pc)^2 attention: P^2 blocks of C.
    CHECK(res.single_gpu.value == 16 * C(c));
    CHECK(res.speedup == doctest::Approx(16.0 * static_cast<double>(C(c)) / static_cast<double>(3 * step + C(c))));
  }
}

TEST_CASE("ring: the overlap threshold c >= F/W, both sides") {
  // Above it (c = 2000): compute-bound, no exposed communication, overlap 100%.
  // Below it (c = 500): transfer-bound, each of the P-1 transfer steps exposes T - C.
  const auto above = run_variant("ring", 4, 2000);
  CHECK(above.overlap_pct == doctest::Approx(100.0));
  for (std::uint32_t p = 0; p < 3; ++p) CHECK(above.phases[p].time.value == C(2000));
  const auto below = run_variant("ring", 4, 500);
  for (std::uint32_t p = 0; p < 3; ++p) {
    CHECK(below.phases[p].time.value == T(500));
    CHECK(below.phases[p].exposed_comm.value == T(500) - C(500));
  }
  // Hidden share: C of every T: 100 * C / T = 100 * 512*500^2 / (512000*500) = 50%.
  CHECK(below.overlap_pct == doctest::Approx(50.0));
}

TEST_CASE("ring_serial: every step is compute + transfer") {
  // No overlap: transfer s waits for attend s on both sides, attend s+1 for the transfer.
  // Total = (P-1)(C + T) + C.
  const std::int64_t c = 1000;
  const auto res = run_variant("ring_serial", 4, c);
  for (std::uint32_t p = 0; p < 3; ++p) {
    CHECK(res.phases[p].time.value == C(c) + T(c));
    CHECK(res.phases[p].exposed_comm.value == T(c));
  }
  CHECK(res.total.value == 3 * (C(c) + T(c)) + C(c));
  CHECK(res.overlap_pct == doctest::Approx(0.0));
}

TEST_CASE("allgather: all-gather time plus local compute") {
  // P-1 ring steps of one block each (T apiece), then local q (c rows) against all L = Pc keys:
  // P blocks of C. Total (P-1) T + P C.
  const std::int64_t c = 1000;
  const std::int32_t P = 4;
  const auto res = run_variant("allgather", P, c);
  REQUIRE(res.phases.size() == 2);
  CHECK(res.phases[0].time.value == 3 * T(c));
  CHECK(res.phases[1].time.value == 4 * C(c));
  CHECK(res.total.value == 3 * T(c) + 4 * C(c));
}

TEST_CASE("causal contiguous ring: the last rank does P-1 full blocks and a half") {
  // Rank r computes at steps 0..r (step 0 the causal diagonal, C/2) and skips the rest. Compute-bound
  // (T <= C/2 at c = 4000: T = 2.048e9 ps, C/2 = 4.096e9 ps), so rank P-1 never waits: total = (P - 1/2) C.
  // One GPU does half of the L^2 pairs: P^2 / 2 blocks. Efficiency (P/2) / (P - 1/2) = 8/15 at P = 8.
  const std::int64_t c = 4000;
  const std::int32_t P = 8;
  const auto res = run_variant("ring", P, c, true);
  CHECK(res.total.value == 7 * C(c) + C(c) / 2);
  CHECK(res.single_gpu.value == 32 * C(c));
  CHECK(res.parallel_efficiency == doctest::Approx(8.0 / 15.0));
  CHECK(res.phases[0].compute.value == C(c) / 2);
  for (std::uint32_t p = 1; p < 8; ++p) CHECK(res.phases[p].compute.value == C(c));
}

TEST_CASE("ops of no duration complete the instant they can start, without an event") {
  // Causal ring, P = 6: rank r skips the blocks of steps r+1..P-1 (P(P-1)/2 = 15 attends of no time),
  // and the unit model prices merges at 0 (P(P-1)/2 = 15 more). Each completes when launched: its end
  // is its start, which is the latest end of its dependencies and of the op before it on its stream;
  // no event is popped for it, so events = ops - 30.
  const std::int32_t P = 6;
  const std::int64_t c = 1000;
  const auto s = make(mha(P * c, true), "ring", P);
  const auto platform = star(P, Bandwidth(kW));
  const SimpleCostModel cost(unit_params());
  const SimResult res = simulate(s, platform, identity(P), cost);
  // The trace holds every rank's ops in order, rank after rank.
  std::vector<std::size_t> first{0};
  for (const auto& rank : s.ranks) first.push_back(first.back() + rank.ops.size());
  REQUIRE(res.trace.records.size() == first.back());
  auto end_of = [&](std::int32_t r, std::size_t op) { return res.trace.records[first[static_cast<std::size_t>(r)] + op].end; };
  std::size_t instant = 0;
  for (const auto& rec : res.trace.records) {
    if (rec.end != rec.start) continue;
    ++instant;
    const auto& ops = s.ranks[static_cast<std::size_t>(rec.rank)].ops;
    const ir::Op& op = ops[rec.op];
    Time ready{0};
    for (const auto d : op.deps) ready = std::max(ready, end_of(rec.rank, d));
    for (std::size_t j = rec.op; j-- > 0;) {
      if (ops[j].stream == op.stream) {
        ready = std::max(ready, end_of(rec.rank, j));
        break;
      }
    }
    CHECK(rec.start == ready);
  }
  CHECK(instant == static_cast<std::size_t>(P * (P - 1)));
  CHECK(res.events == res.ops - instant);
}

TEST_CASE("interference is progress-based") {
  // Ring at c = 2000 with factor 2: attend 0 starts with transfer 0 in flight (T = 1.024e9 ps), so it
  // runs at half speed until T, having done T/2 of its C = 2.048e9 ps; the remaining C - T/2 runs at
  // full speed: attend 0 ends at T + C - T/2 = C + T/2 = 2.56e9 ps (a one-shot guess would say 2C).
  auto params = unit_params();
  params.interference = 2.0;
  const auto res = run_variant("ring", 4, 2000, false, params);
  int found = 0;
  for (const auto& rec : res.trace.records) {
    if (rec.rank == 0 && rec.kind == "attend" && rec.phase == 0) {
      CHECK(rec.end.value == C(2000) + T(2000) / 2);
      ++found;
    }
  }
  CHECK(found == 1);
}

TEST_CASE("two ranks on one GPU share its compute") {
  // A virtual single-GPU platform: both ranks on GPU 0. Transfers between them are free (same GPU,
  // local_rate 0), and each step's two attends run together at half speed each: 2C per step.
  const std::int64_t c = 1000;
  const auto s = make(mha(2 * c), "ring", 2);
  const TablePlatform platform(1);
  const SimpleCostModel cost(unit_params());
  const auto res = simulate(s, platform, {0, 0}, cost);
  CHECK(res.total.value == 2 * 2 * C(c));
  CHECK(res.gpus_used == 1);
}

TEST_CASE("every bundled experiment: the summary built as ops retire is the one from the whole trace") {
  // The real models and fabrics (NVSwitch, PCIe, an oversubscribed InfiniBand fat tree) and every
  // bundled variant: a transfer's interval may start a phase or more before its data moves.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(RINGLAB_SOURCE_DIR) + "/configs/experiments")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 5);
  // The 128-rank ones fold each rank's records many times on the way (a batch is 16); the other
  // variants at that size too, and a transfer-bound ring on the oversubscribed tree.
  std::vector<std::pair<std::string, std::vector<std::string>>> runs;
  for (const auto& f : files) runs.push_back({f.string(), {}});
  const std::string big = std::string(RINGLAB_SOURCE_DIR) + "/configs/experiments/ring-x16-ndr-oversub2.yaml";
  runs.push_back({big, {"schedule.variant=ring_serial"}});
  runs.push_back({big, {"schedule.variant=allgather", "workload.causal=true"}});
  runs.push_back({big, {"workload.seq_len=131072"}});
  for (const auto& [f, overrides] : runs) {
    CAPTURE(f);
    CAPTURE(overrides.size());
    auto x = load_for_simulation(f, overrides);
    const ir::Schedule& header = x.schedule->header();
    trace::SummaryBuilder retired(static_cast<std::int32_t>(header.ranks.size()), header.variant);
    SimOptions options;
    options.summary = &retired;
    const SimResult res = simulate(*x.schedule, *x.platform, x.gpu_of_rank, *x.cost, options);
    REQUIRE(!res.trace.records.empty());
    CHECK(trace::to_json(make_summary(res, header, {}, &retired)) == trace::to_json(make_summary(res, header)));
  }
}

TEST_CASE("the summary built from the records the simulator streams is the one from its whole trace") {
  for (const char* variant : {"ring", "ring_serial", "allgather"}) {
    for (const bool causal : {false, true}) {
      CAPTURE(variant);
      CAPTURE(causal);
      const std::int32_t P = 5;
      const auto s = make(mha(P * 1000, causal), variant, P);
      const auto platform = star(P, Bandwidth(kW));
      auto params = unit_params();
      params.interference = 1.5;
      const SimpleCostModel cost(params);
      trace::SummaryBuilder streamed(P, s.variant);
      SimOptions options;
      std::size_t calls = 0;
      options.trace_sink = [&](std::span<const trace::OpRecord> records) {
        ++calls;
        streamed.add_rank(records);
      };
      const SimResult res = simulate(s, platform, identity(P), cost, options);
      CHECK(calls == static_cast<std::size_t>(P));
      CHECK(trace::to_json(make_summary(res, s, {}, &streamed)) == trace::to_json(make_summary(res, s)));
      // Without the trace kept: the same summary, and the same hash.
      SimOptions lean = options;
      lean.record_trace = false;
      trace::SummaryBuilder lean_summary(P, s.variant);
      lean.trace_sink = [&](std::span<const trace::OpRecord> records) { lean_summary.add_rank(records); };
      const SimResult lean_res = simulate(s, platform, identity(P), cost, lean);
      CHECK(lean_res.trace.records.empty());
      CHECK(lean_res.trace.schedule_hash == res.trace.schedule_hash);
      CHECK(trace::to_json(make_summary(lean_res, s, {}, &lean_summary)) == trace::to_json(make_summary(res, s)));
      // Op by op as they retire (SimOptions::summary): the same summary and hash, no records kept.
      SimOptions retiring;
      retiring.record_trace = false;
      trace::SummaryBuilder retired(P, s.variant);
      retiring.summary = &retired;
      const SimResult retired_res = simulate(s, platform, identity(P), cost, retiring);
      CHECK(retired_res.trace.records.empty());
      CHECK(retired_res.trace.schedule_hash == res.trace.schedule_hash);
      CHECK(trace::to_json(make_summary(retired_res, s, {}, &retired)) == trace::to_json(make_summary(res, s)));
    }
  }
}
