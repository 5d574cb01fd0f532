// Contention, deadlocks, stalls and determinism.
#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"
#include "ringlab/sim/report.hpp"
#include "ringlab/trace/chrome.hpp"
#include "ringlab/trace/summary.hpp"

using namespace ringlab;
using namespace ringlab::sim;
using namespace ringlab::sim::testing;

namespace {
topology::Hop hop(topology::LinkId l, double bw) { return {l, topology::LinkKind::Net, Bandwidth(bw), Time{0}}; }

ir::Op comm_op(ir::OpId id, ir::OpKind kind, std::uint32_t group = 0) {
  ir::Op op;
  op.id = id;
  op.stream = ir::Stream::comm;
  op.group = group;
  op.kind = std::move(kind);
  return op;
}

// A (1000 x k) by (k x 1000) GEMM: 2e6 k FLOPs, k / 500 ms at the unit model's 1 TFLOP/s.
ir::Op gemm_op(ir::OpId id, ir::Stream stream, std::uint32_t phase, std::int64_t k, std::vector<ir::OpId> deps = {}) {
  ir::Op op;
  op.id = id;
  op.stream = stream;
  op.phase = phase;
  op.deps.assign(deps.begin(), deps.end());
  op.kind = ir::Gemm{1000, 1000, k, 0, 0, 0, Flops(2'000'000 * k)};
  return op;
}

// A schedule of `ranks` ranks whose programs are given op by op (buffers: one of `bytes`).
ir::Schedule hand(std::int32_t ranks, Bytes bytes) {
  ir::Schedule s;
  s.variant = "hand";
  s.workload = mha(ranks);
  s.ranks.resize(static_cast<std::size_t>(ranks));
  for (auto& r : s.ranks) r.buffers.push_back({"buf", ir::BufferRole::workspace, ir::DType::bf16, 0, bytes});
  return s;
}
ir::Send send(std::int32_t peer, Bytes b, std::uint32_t tag) { return ir::Send{peer, ir::ByteSlice{0, Bytes{0}, b}, tag}; }
ir::Recv recv(std::int32_t peer, Bytes b, std::uint32_t tag) { return ir::Recv{peer, ir::ByteSlice{0, Bytes{0}, b}, tag}; }

// Two nodes of 4 GPUs (A = 0..3, B = 4..7). GPU g sends on link 2g, receives on 2g+1 (W each); the
// leaf-to-leaf uplink has capacity `uplink` per direction (link 100: A->B, 101: B->A).
TablePlatform two_nodes(double w, double uplink) {
  TablePlatform p(8);
  for (std::int32_t a = 0; a < 8; ++a) {
    for (std::int32_t b = 0; b < 8; ++b) {
      if (a == b) continue;
      topology::Route r;
      r.hops.push_back(hop(static_cast<topology::LinkId>(2 * a), w));
      if (a / 4 != b / 4) r.hops.push_back(hop(a < 4 ? 100 : 101, uplink));
      r.hops.push_back(hop(static_cast<topology::LinkId>(2 * b + 1), w));
      p.set_route(a, b, r);
    }
  }
  return p;
}
}  // namespace

TEST_CASE("contention: two transfers through one link each get half") {
  // Ranks 0 -> 1 and 2 -> 3, 1e9 bytes each; both routes cross link 50 (100 GB/s), their own links run
  // at 400 GB/s. Alone: 1e9 / 100e9 = 10 ms. Together: 50 GB/s each, both end at 20 ms; link 50 is
  // the busiest, at 100% utilisation.
  const Bytes X(1'000'000'000);
  auto s = hand(4, X);
  s.ranks[0].ops.push_back(comm_op(0, send(1, X, 0)));
  s.ranks[1].ops.push_back(comm_op(0, recv(0, X, 0)));
  s.ranks[2].ops.push_back(comm_op(0, send(3, X, 0)));
  s.ranks[3].ops.push_back(comm_op(0, recv(2, X, 0)));
  TablePlatform p(4);
  p.set_route(0, 1, topology::Route{{hop(0, 400e9), hop(50, 100e9), hop(1, 400e9)}});
  p.set_route(2, 3, topology::Route{{hop(2, 400e9), hop(50, 100e9), hop(3, 400e9)}});
  const SimpleCostModel cost(unit_params());
  const auto res = simulate(s, p, identity(4), cost);
  CHECK(res.total == seconds(0.02));
  for (const auto& rec : res.trace.records) CHECK(rec.end == seconds(0.02));
  REQUIRE(res.busiest.has_value());
  CHECK(res.busiest->usage.link == 50);
  CHECK(res.busiest->utilisation == doctest::Approx(1.0));

  // The same with only one of them: 10 ms.
  auto one = hand(4, X);
  one.ranks[0].ops.push_back(comm_op(0, send(1, X, 0)));
  one.ranks[1].ops.push_back(comm_op(0, recv(0, X, 0)));
  CHECK(simulate(one, p, identity(4), cost).total == seconds(0.01));
}

TEST_CASE("contention: a 2:1 oversubscribed uplink halves a cross-node ring's bandwidth") {
  // Ring of P = 8 placed round-robin over two nodes, so every ring hop crosses the uplink: 4 flows per
  // direction. With a 4W uplink each flow gets W: a transfer-bound step (c = 500) takes T. With a
  // 2:1 oversubscribed 2W uplink each gets W/2: 2T.
  const std::int64_t c = 500;
  const auto s = make(mha(8 * c), "ring", 8);
  const std::vector<std::int32_t> rr = {0, 4, 1, 5, 2, 6, 3, 7};
  const SimpleCostModel cost(unit_params());
  const auto full = simulate(s, two_nodes(1e9, 4e9), rr, cost);
  const auto over = simulate(s, two_nodes(1e9, 2e9), rr, cost);
  const std::int64_t T = 512000 * c;
  const std::int64_t C = 512 * c * c;
  for (std::uint32_t p = 0; p < 7; ++p) {
    CHECK(full.phases[p].time.value == T);
    CHECK(over.phases[p].time.value == 2 * T);
  }
  CHECK(over.total.value == 7 * 2 * T + C);
  REQUIRE(over.busiest.has_value());
  CHECK((over.busiest->usage.link == 100 || over.busiest->usage.link == 101));
}

TEST_CASE("deadlock is reported with the ranks and ops waiting") {
  // Rank 0 posts recv(tag 0) then send(tag 1); rank 1 posts recv(tag 1) then send(tag 0), in order on
  // one stream: each waits for a send stuck behind the other's recv.
  const Bytes X(1000);
  auto s = hand(2, X);
  s.ranks[0].ops = {comm_op(0, recv(1, X, 0)), comm_op(1, send(1, X, 1))};
  s.ranks[1].ops = {comm_op(0, recv(0, X, 1)), comm_op(1, send(0, X, 0))};
  const auto p = star(2, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  try {
    (void)simulate(s, p, identity(2), cost);
    FAIL("no deadlock reported");
  } catch (const SimulationError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("deadlock") != std::string::npos);
    CHECK(msg.find("0 of 4 ops done; 2 ops waiting") != std::string::npos);  // the count matches the list
    REQUIRE(e.waiters().size() == 2);
    CHECK(e.waiters()[0].rank == 0);
    CHECK(e.waiters()[0].op == 0);
    CHECK(e.waiters()[1].rank == 1);
    CHECK(e.waiters()[1].op == 0);
    CHECK(msg.find("waiting for rank 1") != std::string::npos);
  }
}

TEST_CASE("a transfer over a link without capacity is a stall, not a hang") {
  const Bytes X(1000);
  auto s = hand(2, X);
  s.ranks[0].ops = {comm_op(0, send(1, X, 0))};
  s.ranks[1].ops = {comm_op(0, recv(0, X, 0))};
  TablePlatform p(2);
  p.set_route(0, 1, topology::Route{{hop(0, 0.0)}});
  const SimpleCostModel cost(unit_params());
  CHECK_THROWS_WITH_AS((void)simulate(s, p, identity(2), cost), doctest::Contains("zero bandwidth"), SimulationError);
}

TEST_CASE("an unmatched send is a validation error naming it") {
  const Bytes X(1000);
  auto s = hand(2, X);
  s.ranks[0].ops = {comm_op(0, send(1, X, 3))};
  const auto p = star(2, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  CHECK_THROWS_WITH_AS((void)simulate(s, p, identity(2), cost), doctest::Contains("rank 0 op 0"), ValidationError);
}

TEST_CASE("determinism: same input, byte-identical JSON and trace") {
  auto params = unit_params();
  params.interference = 1.3;
  params.latency = microseconds(2.5);
  const SimpleCostModel cost(params);
  const auto s = make(mha(8 * 1024, true), "ring", 8);
  const std::vector<std::int32_t> rr = {0, 4, 1, 5, 2, 6, 3, 7};
  const auto platform = two_nodes(1e9, 2e9);
  std::string json[2], chrome[2];
  for (int i = 0; i < 2; ++i) {
    const auto res = simulate(s, platform, rr, cost);
    json[i] = trace::to_json(make_summary(res, s));
    chrome[i] = trace::to_chrome_json(res.trace);
  }
  CHECK(json[0] == json[1]);
  CHECK(chrome[0] == chrome[1]);
  CHECK(json[0].find("\"schedule_hash\"") != std::string::npos);
}

TEST_CASE("conservation: every op runs once, FLOPs and bytes match the schedule") {
  const auto s = make(mha(8 * 256, true), "ring", 8);
  const auto platform = star(8, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  const auto res = simulate(s, platform, identity(8), cost);
  std::int64_t ops = 0, flops = 0, bytes = 0, rec_flops = 0, rec_bytes = 0;
  for (const auto& r : s.ranks) {
    ops += static_cast<std::int64_t>(r.ops.size());
    for (const auto& op : r.ops) {
      flops += ir::op_flops(op.kind).value;
      bytes += ir::op_wire_bytes(op.kind).value;
    }
  }
  for (const auto& rec : res.trace.records) {
    rec_flops += rec.flops.value;
    if (rec.kind == "send") rec_bytes += rec.bytes.value;
    CHECK(rec.end >= rec.start);
  }
  CHECK(static_cast<std::int64_t>(res.trace.records.size()) == ops);
  CHECK(rec_flops == flops);
  CHECK(rec_bytes == bytes);
  double link_bytes = 0;
  for (const auto& l : res.links) link_bytes += l.bytes;
  CHECK(link_bytes == doctest::Approx(2.0 * static_cast<double>(bytes)));  // two hops per route
}

namespace {
// A source that promises nothing: every stream may be used (so the simulator reads each rank's whole
// program into its window at once), phases may come in any order (so per-phase figures are gathered
// only at the end), and each rank's ops come in one batch (ScheduleSource's defaults).
class Unpromising final : public ir::ScheduleSource {
 public:
  explicit Unpromising(const ir::ScheduleSource& s) : s_(s) {}
  [[nodiscard]] const ir::Schedule& header() const override { return s_.header(); }
  [[nodiscard]] const ir::RankProgram& rank(std::size_t r, ir::RankProgram& scratch) const override {
    return s_.rank(r, scratch);
  }

 private:
  const ir::ScheduleSource& s_;
};

void check_same_phases(const SimResult& a, const SimResult& b) {
  REQUIRE(a.phases.size() == b.phases.size());
  for (std::size_t p = 0; p < a.phases.size(); ++p) {
    CAPTURE(p);
    CHECK(a.phases[p].phase == b.phases[p].phase);
    CHECK(a.phases[p].time == b.phases[p].time);
    CHECK(a.phases[p].compute == b.phases[p].compute);
    CHECK(a.phases[p].comm == b.phases[p].comm);
    CHECK(a.phases[p].exposed_comm == b.phases[p].exposed_comm);
  }
  CHECK(a.overlap_pct == b.overlap_pct);
}
// Eight ranks alternating between two nodes behind a 2:1 uplink (every ring step crosses it), with
// interference and a fixed latency: the setup of the tests that compare two ways of simulating alike.
struct AlternatingNodes {
  static SimpleCostModel::Params params() {
    auto p = unit_params();
    p.interference = 1.3;
    p.latency = microseconds(2.5);
    return p;
  }
  const SimpleCostModel cost{params()};
  const std::vector<std::int32_t> rr = {0, 4, 1, 5, 2, 6, 3, 7};
  const TablePlatform platform = two_nodes(1e9, 2e9);
};
}  // namespace

TEST_CASE("a schedule streamed from its generator simulates exactly as the materialised one") {
  const AlternatingNodes x;
  const auto& [cost, rr, platform] = x;
  for (const auto& variant : ir::variant_names()) {
    CAPTURE(variant);
    ir::ScheduleSpec spec;
    spec.variant = variant;
    spec.ranks = 8;
    const ir::Workload w = mha(8 * 1024, true);
    const ir::Schedule whole = ir::generate(w, spec);
    const ir::ScheduleGenerator gen(w, spec);
    const auto a = simulate(whole, platform, rr, cost);
    const auto b = simulate(gen, platform, rr, cost);
    CHECK(b.total == a.total);
    CHECK(b.peak_memory == a.peak_memory);
    CHECK(b.events == a.events);
    CHECK(trace::to_chrome_json(b.trace) == trace::to_chrome_json(a.trace));  // incl. the schedule hash
    CHECK(trace::to_json(make_summary(b, gen.header())) == trace::to_json(make_summary(a, whole)));
    // Per-phase figures folded in as ranks retire their ops (phases in order: a phase closes when
    // an op of the next one retires) equal those gathered at the end from every op.
    const auto c = simulate(Unpromising(gen), platform, rr, cost);
    CHECK(c.total == a.total);
    CHECK(c.events == a.events);
    check_same_phases(a, b);
    check_same_phases(a, c);
    CHECK(trace::to_chrome_json(c.trace) == trace::to_chrome_json(a.trace));
  }
}

TEST_CASE("flows alone on their links finish without a flow event, exactly as with one") {
  // Recording the link timeline keeps every flow's flow_done event (FlowNetwork::start, "tail"); without
  // it, a transfer alone on its links gets only its transfer_done. Across the variants on two nodes
  // behind a 2:1 uplink (transfers inside a node alone on their links, those across sharing the uplink,
  // some joined mid-flight), both give the same trace, figures, link usage and event count.
  const AlternatingNodes x;
  const auto& [cost, rr, platform] = x;
  for (const auto& variant : ir::variant_names()) {
    for (const bool causal : {true, false}) {
      CAPTURE(variant);
      CAPTURE(causal);
      ir::ScheduleSpec spec;
      spec.variant = variant;
      spec.ranks = 8;
      const ir::Schedule s = ir::generate(mha(8 * 1024, causal), spec);
      SimOptions timeline;
      timeline.record_link_timeline = true;
      const auto a = simulate(s, platform, rr, cost);
      const auto b = simulate(s, platform, rr, cost, timeline);
      CHECK(!b.link_timeline.empty());
      CHECK(a.total == b.total);
      CHECK(a.events == b.events);
      CHECK(trace::to_chrome_json(a.trace) == trace::to_chrome_json(b.trace));
      CHECK(trace::to_json(make_summary(a, s)) == trace::to_json(make_summary(b, s)));
      check_same_phases(a, b);
      REQUIRE(a.links.size() == b.links.size());
      for (std::size_t i = 0; i < a.links.size(); ++i) {
        CHECK(a.links[i].link == b.links[i].link);
        CHECK(a.links[i].bytes == b.links[i].bytes);
        CHECK(a.links[i].busy == b.links[i].busy);
      }
    }
  }
}

TEST_CASE("per-phase figures gathered as ranks retire equal those gathered at the end, over many phases") {
  // 32 ring steps: long enough for every rank's list of retired compute intervals to be pruned many
  // times while later transfers (begun before some of them ended: a merge runs beside the next
  // transfer) are still to be finalised.
  auto params = unit_params();
  params.interference = 1.2;
  params.fixed_op_time = microseconds(50);  // merges
  const SimpleCostModel cost(params);
  const std::int32_t P = 32;
  const auto platform = star(P, Bandwidth(1e9));
  for (const bool causal : {false, true}) {
    for (const std::int64_t c : {300, 1000, 1400}) {
      CAPTURE(causal);
      CAPTURE(c);
      const auto s = make(mha(P * c, causal), "ring", P);
      const auto rolling = simulate(s, platform, identity(P), cost);
      const auto at_end = simulate(Unpromising(ir::StoredSource(s)), platform, identity(P), cost);
      check_same_phases(rolling, at_end);
    }
  }
}


TEST_CASE("a transfer of a later phase that began before earlier phases' compute keeps that compute covering it") {
  // Rank 0: phase 0 is a 1 us send to rank 1 and 15 kernels of 1 us with 1 us gaps (each waits for two
  // 1 us copies on the copy engine): busy [2k+2, 2k+3) us, k = 0..14. Phase 1 is a 40 us send to rank 1,
  // next on the comm stream: [1, 41) us, beside all of those kernels. Phase 0 closes when that send
  // retires (41 us); the rank's retired kernels are pruned then (15 >= 8 of them), except those a
  // transfer not yet finalised may overlap: the send began at 1 us, so all stay, and phase 1's exposed
  // communication on rank 0 is 40 - 15 = 25 us (pruning them too would make it 40). Rank 1 only
  // receives, so the maxima over ranks are its; the overlap % sums both: transfers 2 x (1 + 40) us,
  // exposed 1 + 25 + 1 + 40 = 67 us.
  auto params = unit_params();
  params.fixed_op_time = microseconds(1);
  const SimpleCostModel cost(params);
  ir::Schedule s;
  s.variant = "hand";
  s.workload = mha(1024);
  s.ranks.resize(2);
  auto add = [](ir::RankProgram& rank, std::uint32_t phase, ir::Stream stream, ir::OpKind kind,
                std::vector<ir::OpId> deps = {}) {
    ir::Op o;
    o.id = static_cast<ir::OpId>(rank.ops.size());
    o.phase = phase;
    o.stream = stream;
    o.kind = std::move(kind);
    o.deps.assign(deps.begin(), deps.end());
    rank.ops.push_back(std::move(o));
    return rank.ops.back().id;
  };
  auto data = [](std::int64_t bytes) { return ir::ByteSlice{0, Bytes{0}, Bytes{bytes}}; };  // at 1 GB/s: bytes ns
  add(s.ranks[0], 0, ir::Stream::comm, ir::Send{1, data(1'000), 0});
  for (int k = 0; k < 15; ++k) {
    add(s.ranks[0], 0, ir::Stream::comm_aux, ir::Copy{});
    const auto second = add(s.ranks[0], 0, ir::Stream::comm_aux, ir::Copy{});
    add(s.ranks[0], 0, ir::Stream::compute, ir::Copy{}, {second});
  }
  add(s.ranks[0], 1, ir::Stream::comm, ir::Send{1, data(40'000), 1});
  add(s.ranks[1], 0, ir::Stream::comm, ir::Recv{0, data(1'000), 0});
  add(s.ranks[1], 1, ir::Stream::comm, ir::Recv{0, data(40'000), 1});
  const auto platform = star(2, Bandwidth(1e9));
  const auto rolling = simulate(s, platform, identity(2), cost);
  const auto at_end = simulate(Unpromising(ir::StoredSource(s)), platform, identity(2), cost);
  REQUIRE(rolling.phases.size() == 2);
  CHECK(rolling.total == microseconds(41));
  CHECK(rolling.phases[0].time == microseconds(31));
  CHECK(rolling.phases[1].time == microseconds(40));
  CHECK(rolling.phases[1].comm == microseconds(40));
  CHECK(rolling.overlap_pct == doctest::Approx(100.0 * (1.0 - 67.0 / 82.0)));
  check_same_phases(rolling, at_end);
}

namespace {
// The unit model, except that a transfer whose route starts on link 0 slows its GPUs' kernels by
// `on_link0` and any other by `elsewhere`.
class RouteInterference final : public CostModel {
 public:
  RouteInterference(double on_link0, double elsewhere) : base_(unit_params()), a_(on_link0), b_(elsewhere) {}
  Time op_time(const ir::Workload& w, const ir::RankProgram& r, const ir::Op& op) const override { return base_.op_time(w, r, op); }
  TransferCost transfer(Bytes bytes, const topology::Route& route) const override { return base_.transfer(bytes, route); }
  Bandwidth link_capacity(const topology::Hop& hop) const override { return base_.link_capacity(hop); }
  double interference(const topology::Route& route) const override { return route.hops.front().link == 0 ? a_ : b_; }
  Bytes resident_memory(const ir::Workload& w, const ir::RankProgram& r) const override { return base_.resident_memory(w, r); }
  Bytes op_memory(const ir::Workload& w, const ir::Op& op) const override { return base_.op_memory(w, op); }

 private:
  SimpleCostModel base_;
  double a_, b_;
};
}  // namespace

TEST_CASE("interference: a kernel runs slowed by the largest factor of its GPU's transfers in flight") {
  // Rank 0 runs a 12 ms GEMM (1.2e10 FLOPs at 1 TFLOP/s) while it sends 3 MB to rank 1 (link 0, 3 ms
  // at 1 GB/s) and 6 MB to rank 2 (link 2, 6 ms), both from t = 0. Progress is 1/f of idle speed:
  // factors 3 (link 0) and 1.5: 1 ms done by 3 ms, 3 - 1 = 2 more by 6 ms, 9 left: ends at 15 ms.
  // Swapped (1.5 on the short one, 3 on the long one): 6/3 = 2 ms done by 6 ms, 10 left: 16 ms.
  auto schedule = [] {
    auto s = hand(3, Bytes(6'000'000));
    s.ranks[0].ops = {gemm_op(0, ir::Stream::compute, 0, 6000), comm_op(1, send(1, Bytes(3'000'000), 0), 1), comm_op(2, send(2, Bytes(6'000'000), 0), 1)};
    s.ranks[1].ops = {comm_op(0, recv(0, Bytes(3'000'000), 0))};
    s.ranks[2].ops = {comm_op(0, recv(0, Bytes(6'000'000), 0))};
    return s;
  }();
  TablePlatform p(3);
  p.set_route(0, 1, topology::Route{{hop(0, 1e9), hop(1, 1e9)}});
  p.set_route(0, 2, topology::Route{{hop(2, 1e9), hop(3, 1e9)}});
  for (const bool long_slows_more : {false, true}) {
    CAPTURE(long_slows_more);
    const RouteInterference cost(long_slows_more ? 1.5 : 3.0, long_slows_more ? 3.0 : 1.5);
    const auto res = simulate(schedule, p, identity(3), cost);
    std::size_t seen = 0;
    for (const auto& rec : res.trace.records) {
      if (rec.rank != 0 || rec.op != 0) continue;
      ++seen;
      CHECK(rec.start == Time{0});
      CHECK(rec.end == seconds(long_slows_more ? 0.016 : 0.015));
    }
    CHECK(seen == 1);
    CHECK(res.total == seconds(long_slows_more ? 0.016 : 0.015));
  }
}

TEST_CASE("exposed communication: kernels of two compute streams cover a transfer in whatever order they started") {
  // Rank 0: a 2 MB send (phase 0, [0, 2 ms) at 1 GB/s); a GEMM of 3 ms of work on compute_aux after
  // it (phase 1); one of 6 ms on compute with no dependency (phase 1), running alone from 0, then
  // sharing the GPU from 2 ms at half speed each: the first ends at 2 + 6 = 8 ms, the second, with
  // 4 - 3 = 1 ms left, at 9 ms. Phase 0 closes when the first retires, at 8 ms, with the second
  // still running: the window's kernels come the later-started first ([2, 8), [0, 8)), and together
  // they cover the whole transfer: exposed 0, not 2 ms. (Rank 1 receives beside a 3 ms GEMM of phase
  // 0, so its own side of the transfer is covered too: the phase's figure is the larger of the two.)
  auto s = hand(2, Bytes(2'000'000));
  s.ranks[0].ops = {comm_op(0, send(1, Bytes(2'000'000), 0)), gemm_op(1, ir::Stream::compute_aux, 1, 1500, {0}),
                    gemm_op(2, ir::Stream::compute, 1, 3000)};
  s.ranks[1].ops = {comm_op(0, recv(0, Bytes(2'000'000), 0)), gemm_op(1, ir::Stream::compute, 0, 1500)};
  TablePlatform p(2);
  p.set_route(0, 1, topology::Route{{hop(0, 1e9)}});
  const SimpleCostModel cost(unit_params());
  const auto res = simulate(s, p, identity(2), cost);
  REQUIRE(res.phases.size() == 2);
  CHECK(res.phases[0].comm == seconds(0.002));
  CHECK(res.phases[0].exposed_comm == Time{0});
  CHECK(res.total == seconds(0.009));
}
