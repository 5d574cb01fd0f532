// The validator's verdicts, each with the message a user would read.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/validate.hpp"

using namespace ringlab;
using namespace ringlab::ir;

namespace {
Schedule ring4() {
  Workload w;
  w.seq_len = 32;
  w.q_heads = 2;
  w.kv_heads = 2;
  w.head_dim = 8;
  return generate(w, ScheduleSpec{"ring", 4, {}});
}
std::string first_error(const Schedule& s) {
  const auto e = validation_errors(s);
  return e.empty() ? "valid" : e.front();
}
/// Two ranks exchanging one buffer, hand-written (only tests may do this).
Schedule exchange(bool rank0_recv_first, bool rank1_recv_first) {
  Schedule s;
  s.variant = "hand";
  s.workload.seq_len = 2;
  s.workload.q_heads = 1;
  s.workload.kv_heads = 1;
  s.workload.head_dim = 1;
  s.token_sets = {TokenSet{{{0, 1, 1}}}, TokenSet{{{1, 1, 1}}}};
  s.partition.owned = {0, 1};
  s.ranks.resize(2);
  for (int r = 0; r < 2; ++r) {
    auto& p = s.ranks[static_cast<std::size_t>(r)];
    p.buffers = {Buffer{"a", BufferRole::kv, DType::bf16, 1, Bytes{4}}, Buffer{"b", BufferRole::kv, DType::bf16, 1, Bytes{4}}};
    const int peer = 1 - r;
    Op send{0, Stream::comm, 0, 0, {}, Send{peer, ByteSlice{0, Bytes{0}, Bytes{4}}, 7}};
    Op recv{0, Stream::comm, 0, 0, {}, Recv{peer, ByteSlice{1, Bytes{0}, Bytes{4}}, 7}};
    const bool recv_first = r == 0 ? rank0_recv_first : rank1_recv_first;
    p.ops = recv_first ? std::vector<Op>{recv, send} : std::vector<Op>{send, recv};
    p.ops[1].id = 1;
  }
  return s;
}
}  // namespace

TEST_CASE("validator accepts what the generators build") {
  CHECK(first_error(ring4()) == "valid");
  CHECK(first_error(exchange(false, true)) == "valid");  // one side sends first: the rendezvous completes
}

TEST_CASE("validator: a send without its recv") {
  auto s = ring4();
  // Retag rank 1's first recv: rank 0's send of tag 0 now has no partner.
  for (auto& op : s.ranks[1].ops)
    if (auto* r = std::get_if<Recv>(&op.kind)) {
      r->tag = 99;
      break;
    }
  CHECK(first_error(s) == "rank 0 op 0 (send to rank 1 tag 0): no matching recv on rank 1");
}

TEST_CASE("validator: bytes of a pair must agree") {
  auto s = exchange(false, true);
  std::get<Recv>(s.ranks[1].ops[0].kind).data.bytes = Bytes{2};
  CHECK(first_error(s) == "rank 0 op 0 (send to rank 1 tag 7) sends 4 bytes but rank 1 op 0 (recv from rank 0 tag 7) receives 2");
}

TEST_CASE("validator: a dependency cycle") {
  auto s = exchange(false, true);
  s.ranks[0].ops[0].deps = {1};  // op 0 waits for op 1, which follows op 0 on the comm stream
  CHECK(first_error(s) == "rank 0: dependency cycle (an arrow reads 'waits for'): op 0 -> op 1 -> op 0");
}

TEST_CASE("validator: two ranks that both recv first deadlock") {
  CHECK(first_error(exchange(true, true)) ==
        "deadlock: 2 ranks cannot proceed: rank 0 op 0 (recv from rank 1 tag 7) waits for its peer; "
        "rank 1 op 0 (recv from rank 0 tag 7) waits for its peer");
  CHECK_THROWS_WITH_AS(validate(exchange(true, true)), doctest::Contains("deadlock"), ValidationError);
}

TEST_CASE("validator: grouped send/recv on one stream do not deadlock") {
  auto s = exchange(true, true);
  for (auto& p : s.ranks)
    for (auto& op : p.ops) op.group = 1;
  CHECK(first_error(s) == "valid");
}

TEST_CASE("validator: a ring whose ranks all recv before they send deadlocks") {
  auto s = ring4();
  // Ungroup step 0's send/recv and issue the recv first on every rank: each waits for a send that
  // its neighbour will only issue after its own recv.
  for (auto& p : s.ranks) {
    REQUIRE(std::holds_alternative<Send>(p.ops[0].kind));
    REQUIRE(std::holds_alternative<Recv>(p.ops[1].kind));
    std::swap(p.ops[0].kind, p.ops[1].kind);
    p.ops[0].group = p.ops[1].group = 0;
  }
  // Each rank's step-1 attend (op 5) also waits, for the transfer at op 1: both blocked heads are named.
  std::string expected = "deadlock: 4 ranks cannot proceed: ";
  for (int r = 0; r < 4; ++r)
    expected += fmt::format("{}rank {} op 5 (attend) waits for op 1; rank {} op 0 (recv from rank {} tag 0) waits for its peer",
                            r == 0 ? "" : "; ", r, r, (r + 3) % 4);
  CHECK(first_error(s) == expected);
}

TEST_CASE("validator: a wait on a later op of the same rank is a cycle") {
  auto s = ring4();
  auto& ops = s.ranks[2].ops;
  OpId last_attend = 0;
  for (const auto& op : ops)
    if (std::holds_alternative<Attend>(op.kind)) last_attend = op.id;
  ops[0].deps = {last_attend};
  CHECK(first_error(s).rfind("rank 2: dependency cycle (an arrow reads 'waits for'): op 0 -> op 11", 0) == 0);
}

TEST_CASE("validator: buffers must exist and be big enough") {
  auto s = ring4();
  std::get<Send>(s.ranks[0].ops[0].kind).data.bytes = Bytes{1 << 20};
  CHECK(first_error(s).find("rank 0 op 0 (send to rank 1 tag 0): data bytes [0, 1048576) exceed buffer 'kv0'") == 0);
  auto t = ring4();
  std::get<Send>(t.ranks[0].ops[0].kind).data.buffer = 42;
  CHECK(first_error(t) == "rank 0 op 0 (send to rank 1 tag 0): data buffer 42 does not exist (rank has 7)");
  auto u = ring4();
  for (auto& op : u.ranks[3].ops)
    if (auto* a = std::get_if<Attend>(&op.kind)) a->heads = 3;
  CHECK(first_error(u).find("heads [0, 3) outside the workload's 2 query heads") != std::string::npos);
}

TEST_CASE("validator: recvs must follow the order of their sends (NCCL pairs by order)") {
  auto s = exchange(false, true);
  // Two transfers 0 -> 1 with tags 1 and 2, received in the opposite order.
  auto& p0 = s.ranks[0].ops;
  auto& p1 = s.ranks[1].ops;
  p0 = {Op{0, Stream::comm, 0, 0, {}, Send{1, ByteSlice{0, Bytes{0}, Bytes{4}}, 1}},
        Op{1, Stream::comm, 0, 0, {}, Send{1, ByteSlice{0, Bytes{0}, Bytes{4}}, 2}}};
  p1 = {Op{0, Stream::comm, 0, 0, {}, Recv{0, ByteSlice{1, Bytes{0}, Bytes{4}}, 2}},
        Op{1, Stream::comm, 0, 0, {}, Recv{0, ByteSlice{1, Bytes{0}, Bytes{4}}, 1}}};
  CHECK(first_error(s) ==
        "rank 1 op 1 (recv from rank 0 tag 1) is issued after a recv from the same rank whose send comes later: NCCL "
        "would pair them in the wrong order");
}

TEST_CASE("validator: an attention block's mask and FLOPs must follow from its token sets") {
  // ring4 is non-causal: every block is full, 4*B*H*d per pair = 4*1*2*8 * 8*8 = 4096 FLOPs.
  auto s = ring4();
  auto& a = std::get<Attend>(s.ranks[1].ops[2].kind);
  REQUIRE(a.flops.value == 4096);
  a.flops = Flops(4095);
  CHECK(first_error(s) == "rank 1 op 2 (attend): flops is 4095 but its token sets make it 4096 (4*B*H*d per attended pair)");
  a.flops = Flops(4096);
  a.mask = Mask::partial;
  CHECK(first_error(s) == "rank 1 op 2 (attend): mask is partial but its token sets make it full");
}

TEST_CASE("validator: the partition gives every position to exactly one rank") {
  auto s = ring4();  // 32 tokens, rank r owns [8r, 8r + 8)
  auto overlap = s;
  overlap.partition.owned[1] = overlap.partition.owned[0];
  CHECK(first_error(overlap) == "partition: position 0 is owned by rank 0 and rank 1");
  auto longer = s;
  longer.workload.seq_len = 40;
  CHECK(first_error(longer) == "partition: position 32 of seq_len 40 is owned by no rank");
  auto shorter = s;
  shorter.workload.seq_len = 24;
  CHECK(first_error(shorter) == "partition of rank 3: token set 3 holds position 24, past seq_len 24");
  // Runs are compared as intervals: a partition of 2^40 positions costs nothing to check.
  auto huge = s;
  huge.workload.seq_len = std::int64_t{1} << 40;
  CHECK(first_error(huge) == "partition: position 32 of seq_len 1099511627776 is owned by no rank");
  // Striped sets (rank r: positions r, r+4, ...), checked position by position.
  auto striped = s;
  for (std::size_t r = 0; r < 4; ++r) {
    striped.token_sets[striped.partition.owned[r]].chunks = {Chunk{static_cast<std::int64_t>(r), 8, 4}};
  }
  CHECK(first_error(striped) == "valid");
  striped.partition.owned[1] = striped.partition.owned[0];
  CHECK(first_error(striped) == "partition: position 0 is owned by two ranks (rank 1 the second)");
  // A heads partition (each rank a share of the heads) does not split the tokens.
  overlap.partition.kind = PartitionKind::heads;
  CHECK(first_error(overlap) == "valid");
}
