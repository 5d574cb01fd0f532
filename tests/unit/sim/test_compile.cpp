// The simulator's compiler on hand-built programs: send/recv matching when a rank talks to several
// peers with tags out of order, matching errors, and streams whose consecutive ops lie far apart.
#include <doctest/doctest.h>

#include <string>

#include "helpers.hpp"

using namespace ringlab;
using namespace ringlab::sim;
using namespace ringlab::sim::testing;

namespace {
ir::Op op(ir::OpId id, ir::Stream stream, ir::OpKind kind, std::vector<ir::OpId> deps = {}) {
  ir::Op o;
  o.id = id;
  o.stream = stream;
  o.kind = std::move(kind);
  for (const auto d : deps) o.deps.push_back(d);
  return o;
}
ir::Send send(std::int32_t peer, std::int64_t bytes, std::uint32_t tag) { return ir::Send{peer, {0, Bytes{0}, Bytes{bytes}}, tag}; }
ir::Recv recv(std::int32_t peer, std::int64_t bytes, std::uint32_t tag) { return ir::Recv{peer, {0, Bytes{0}, Bytes{bytes}}, tag}; }
ir::Schedule empty(std::int32_t ranks) {
  ir::Schedule s;
  s.variant = "hand";
  s.workload = mha(1024);
  s.ranks.resize(static_cast<std::size_t>(ranks));
  return s;
}
const trace::OpRecord& record(const SimResult& r, std::int32_t rank, ir::OpId id) {
  for (const auto& rec : r.trace.records) {
    if (rec.rank == rank && rec.op == id) return rec;
  }
  throw std::runtime_error("no such record");
}
}  // namespace

TEST_CASE("compile: sends to several peers, tags out of issue order, pair by (source, destination, tag)") {
  // Rank 0 sends 1000, 2000 and 3000 bytes to rank 1 with tags 7, 3, 5 and 4000 bytes to rank 2; rank 1
  // posts its recvs (one group, all at once) in tag order 3, 5, 7, so only the (source, tag) key pairs
  // them. Transfers run one at a time on rank 0's comm stream (each a group of its own).
  auto s = empty(3);
  auto& r0 = s.ranks[0].ops;
  r0.push_back(op(0, ir::Stream::comm, send(1, 1000, 7)));
  r0.push_back(op(1, ir::Stream::comm, send(2, 4000, 0)));
  r0.push_back(op(2, ir::Stream::comm, send(1, 2000, 3)));
  r0.push_back(op(3, ir::Stream::comm, send(1, 3000, 5)));
  auto& r1 = s.ranks[1].ops;
  r1.push_back(op(0, ir::Stream::comm, recv(0, 2000, 3)));
  r1.push_back(op(1, ir::Stream::comm, recv(0, 3000, 5)));
  r1.push_back(op(2, ir::Stream::comm, recv(0, 1000, 7)));
  for (auto& o : r1) o.group = 1;  // posted together
  s.ranks[2].ops.push_back(op(0, ir::Stream::comm, recv(0, 4000, 0)));
  const auto platform = star(3, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  // Mismatched pairs would disagree on bytes (a ValidationError); matched ones run in rank 0's order:
  // tag 7 (1 us), then rank 2's 4 us, then tag 3 (2 us) after rank 1 posted it at once, then tag 5.
  const auto res = simulate(s, platform, identity(3), cost);
  CHECK(res.ops == 8);
  CHECK(record(res, 0, 0).end.value == 1'000'000);
  CHECK(record(res, 1, 2).end.value == 1'000'000);
  CHECK(record(res, 2, 0).end.value == 5'000'000);
  CHECK(record(res, 1, 0).end.value == 7'000'000);
  CHECK(record(res, 1, 1).end.value == 10'000'000);
}

TEST_CASE("compile: unmatched and mismatched transfers are named") {
  const auto platform = star(2, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  {
    auto s = empty(2);
    s.ranks[0].ops.push_back(op(0, ir::Stream::comm, send(1, 1000, 1)));
    s.ranks[1].ops.push_back(op(0, ir::Stream::comm, recv(0, 1000, 2)));
    CHECK_THROWS_WITH_AS((void)simulate(s, platform, identity(2), cost),
                         "rank 0 op 0 (send rank 0 -> rank 1, tag 1) has no matching recv", ValidationError);
  }
  {
    auto s = empty(2);
    s.ranks[0].ops.push_back(op(0, ir::Stream::comm, send(1, 1000, 1)));
    s.ranks[1].ops.push_back(op(0, ir::Stream::comm, recv(0, 1000, 1)));
    s.ranks[1].ops.push_back(op(1, ir::Stream::comm, recv(0, 1000, 1)));
    CHECK_THROWS_WITH_AS((void)simulate(s, platform, identity(2), cost),
                         "rank 1 op 1 (recv rank 0 -> rank 1, tag 1) has no matching send", ValidationError);
  }
  {
    auto s = empty(2);
    s.ranks[0].ops.push_back(op(0, ir::Stream::comm, send(1, 1000, 1)));
    s.ranks[1].ops.push_back(op(0, ir::Stream::comm, recv(0, 999, 1)));
    CHECK_THROWS_WITH_AS((void)simulate(s, platform, identity(2), cost),
                         "rank 0 op 0 sends 1000 bytes but rank 1 op 0 receives 999", ValidationError);
  }
  {  // the same, the recv issued first (the send finds it posted)
    auto s = empty(2);
    s.ranks[0].ops.push_back(op(0, ir::Stream::comm, recv(1, 999, 1)));
    s.ranks[1].ops.push_back(op(0, ir::Stream::comm, send(0, 1000, 1)));
    CHECK_THROWS_WITH_AS((void)simulate(s, platform, identity(2), cost),
                         "rank 1 op 0 sends 1000 bytes but rank 0 op 0 receives 999", ValidationError);
  }
  {
    auto s = empty(2);
    s.ranks[0].ops.push_back(op(0, ir::Stream::comm, send(5, 1000, 1)));
    CHECK_THROWS_WITH_AS((void)simulate(s, platform, identity(2), cost), "rank 0 op 0 sends to rank 5", ValidationError);
  }
}

TEST_CASE("compile: a stream's next op hundreds of ops further on") {
  // Rank 0: a send, 600 copies on the compute stream (free), a second send after the last copy.
  // The comm stream's two ops are 601 ops apart in the program.
  auto s = empty(2);
  auto& r0 = s.ranks[0].ops;
  r0.push_back(op(0, ir::Stream::comm, send(1, 1000, 0)));
  for (ir::OpId k = 1; k <= 600; ++k) r0.push_back(op(k, ir::Stream::compute, ir::Copy{}, {k - 1}));
  r0.push_back(op(601, ir::Stream::comm, send(1, 2000, 1), {600}));
  s.ranks[1].ops.push_back(op(0, ir::Stream::comm, recv(0, 1000, 0)));
  s.ranks[1].ops.push_back(op(1, ir::Stream::comm, recv(0, 2000, 1)));
  const auto platform = star(2, Bandwidth(1e9));
  const SimpleCostModel cost(unit_params());
  const auto res = simulate(s, platform, identity(2), cost);
  CHECK(res.ops == 604);
  CHECK(record(res, 0, 601).end.value == 3'000'000);
  CHECK(record(res, 1, 1).end.value == 3'000'000);
}

namespace {
// The simple model, counting the attention blocks it prices; each block's workspace is 16 bytes per
// query row, and it says whether blocks may be priced by shape.
class CountingModel final : public CostModel {
 public:
  CountingModel(SimpleCostModel::Params p, bool by_shape) : simple_(p), by_shape_(by_shape) {}
  Time op_time(const ir::Workload& w, const ir::RankProgram& rank, const ir::Op& op) const override {
    if (std::holds_alternative<ir::Attend>(op.kind)) ++priced;
    return simple_.op_time(w, rank, op);
  }
  TransferCost transfer(Bytes bytes, const topology::Route& route) const override { return simple_.transfer(bytes, route); }
  Bandwidth link_capacity(const topology::Hop& hop) const override { return simple_.link_capacity(hop); }
  double interference(const topology::Route& route) const override { return simple_.interference(route); }
  Bytes resident_memory(const ir::Workload& w, const ir::RankProgram& rank) const override {
    return simple_.resident_memory(w, rank);
  }
  Bytes op_memory(const ir::Workload& /*w*/, const ir::Op& op) const override {
    const auto* a = std::get_if<ir::Attend>(&op.kind);
    return Bytes(a != nullptr && a->mask != ir::Mask::skip ? 16 * a->q.tokens : 0);
  }
  bool attend_cost_by_shape() const override { return by_shape_; }
  mutable int priced = 0;

 private:
  SimpleCostModel simple_;
  bool by_shape_;
};
}  // namespace

TEST_CASE("compile: a model that prices attention by shape is asked once per run of one shape, with the same results") {
  // Causal ring, P = 8: rank r's blocks are the diagonal (partial), then r full ones, then 7 - r skipped
  // ones. Priced by shape, a rank asks at each change of shape: ranks 0 and 7 twice, the others three
  // times, 2 + 6 * 3 + 2 = 22 calls; otherwise once per block, 64. Plus one either way: the whole
  // attention on one GPU (SimResult::single_gpu).
  const auto s = make(mha(8 * 512, true), "ring", 8);
  const auto platform = star(8, Bandwidth(1e9));
  CountingModel each(unit_params(), false);
  CountingModel shaped(unit_params(), true);
  const SimResult a = simulate(s, platform, identity(8), each);
  const SimResult b = simulate(s, platform, identity(8), shaped);
  CHECK(each.priced == 64 + 1);
  CHECK(shaped.priced == 22 + 1);
  CHECK(a.total == b.total);
  REQUIRE(a.phases.size() == b.phases.size());
  for (std::size_t p = 0; p < a.phases.size(); ++p) {
    CHECK(a.phases[p].time == b.phases[p].time);
    CHECK(a.phases[p].compute == b.phases[p].compute);
    CHECK(a.phases[p].exposed_comm == b.phases[p].exposed_comm);
  }
  // The diagonal's and the full blocks' workspace (16 x 512 rows) counts once priced, as before.
  CHECK(a.peak_memory == b.peak_memory);
  Bytes buffers{0};
  for (const auto& buf : s.ranks[3].buffers) buffers += buf.bytes;
  CHECK(b.peak_memory[3] == buffers + Bytes(16 * 512));
}
