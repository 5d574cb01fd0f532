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
