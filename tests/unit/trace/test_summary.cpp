#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "hand_trace.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/trace/csv.hpp"
#include "ringlab/trace/summary.hpp"

using namespace ringlab;
using namespace ringlab::trace;

namespace {
ir::Schedule two_rank_schedule() {
  ir::Schedule s;
  s.variant = "ring";
  s.ranks.resize(2);
  return s;
}
}  // namespace

TEST_CASE("summary: phase times, busy times, exposed comm and overlap derived by hand") {
  const auto t = test::hand_trace();
  const auto s = summarize(t, two_rank_schedule(), SummaryInputs{microseconds(70), Bytes(1 << 20)});
  CHECK(s.schedule_hash == "abc123");
  CHECK(s.source == "cpu");
  CHECK(s.ranks == 2);
  CHECK(s.total_time_s == doctest::Approx(35e-6).epsilon(1e-12));
  REQUIRE(s.phases.size() == 2);
  // Phase 0. Rank 0: span [0,14) = 14; compute 10; comm = |[2,14)| = 12 (send and recv count once);
  // exposed = comm minus compute [0,10) = 4. Rank 1: span 9, compute 5, comm 8, exposed [5,9) = 4.
  CHECK(s.phases[0].phase == 0);
  CHECK(s.phases[0].time_s == doctest::Approx(14e-6).epsilon(1e-12));
  CHECK(s.phases[0].compute_s == doctest::Approx(10e-6).epsilon(1e-12));
  CHECK(s.phases[0].comm_s == doctest::Approx(12e-6).epsilon(1e-12));
  CHECK(s.phases[0].exposed_comm_s == doctest::Approx(4e-6).epsilon(1e-12));
  // Phase 1. Rank 0: span 8, compute 8, no comm. Rank 1: span [9,35) = 26, compute 21, comm 10,
  // exposed [30,35) = 5.
  CHECK(s.phases[1].phase == 1);
  CHECK(s.phases[1].time_s == doctest::Approx(26e-6).epsilon(1e-12));
  CHECK(s.phases[1].compute_s == doctest::Approx(21e-6).epsilon(1e-12));
  CHECK(s.phases[1].comm_s == doctest::Approx(10e-6).epsilon(1e-12));
  CHECK(s.phases[1].exposed_comm_s == doctest::Approx(5e-6).epsilon(1e-12));
  // Overlap: rank 0 hides 8 of 12, rank 1 hides [1,5) + [25,30) = 9 of 18: 17/30.
  CHECK(s.overlap_pct == doctest::Approx(100.0 * 17.0 / 30.0));
  REQUIRE(s.speedup);
  CHECK(*s.speedup == doctest::Approx(2.0));
  REQUIRE(s.parallel_efficiency);
  CHECK(*s.parallel_efficiency == doctest::Approx(1.0));
  CHECK(s.peak_memory_bytes == std::optional<std::int64_t>(1 << 20));
}

TEST_CASE("summary: JSON has a fixed key order, exact numbers and null for absent values") {
  auto s = summarize(test::hand_trace(), two_rank_schedule());
  s.extra.emplace_back("verify", R"({"passed": true})");
  const auto text = to_json(s);
  CHECK(text ==
        R"({"schedule_hash": "abc123", "variant": "ring", "source": "cpu", "ranks": 2, "total_time_s": 3.5e-05, )"
        R"("phases": [{"phase": 0, "time_s": 1.4e-05, "compute_s": 1e-05, "comm_s": 1.2e-05, "exposed_comm_s": 4e-06}, )"
        R"({"phase": 1, "time_s": 2.6e-05, "compute_s": 2.1e-05, "comm_s": 1e-05, "exposed_comm_s": 5e-06}], )"
        R"("speedup": null, "parallel_efficiency": null, "overlap_pct": 56.666666666666664, )"
        R"("peak_memory_bytes": null, "verify": {"passed": true}})");
  const auto parsed = nlohmann::json::parse(text);  // valid JSON
  CHECK(parsed["phases"].size() == 2);
  CHECK(to_json(summarize(test::hand_trace(), two_rank_schedule())) ==
        to_json(summarize(test::hand_trace(), two_rank_schedule())));
}

TEST_CASE("summary: no communication means 0% overlap; empty trace is all zeros") {
  Trace t;
  t.ranks = 1;
  t.records = {test::rec(0, 0, 0, ir::Stream::compute, "attend", 1, 3)};
  ir::Schedule one;
  one.ranks.resize(1);
  const auto s = summarize(t, one);
  CHECK(s.overlap_pct == 0.0);
  CHECK(s.total_time_s == doctest::Approx(2e-6).epsilon(1e-12));
  const auto e = summarize(Trace{}, one);
  CHECK(e.total_time_s == 0.0);
  CHECK(e.phases.empty());
}

TEST_CASE("summary: a record outside the schedule's ranks or running backwards is an error") {
  auto t = test::hand_trace();
  ir::Schedule one;
  one.ranks.resize(1);
  CHECK_THROWS_AS((void)summarize(t, one), Error);
  t.records[0].end = t.records[0].start - Time(1);
  CHECK_THROWS_WITH_AS((void)summarize(t, two_rank_schedule()), doctest::Contains("ends before it starts"), Error);
}

TEST_CASE("json helpers: escaping and number formatting") {
  CHECK(json_quote("a\"b\\c\n\x01") == R"("a\"b\\c\n\u0001")");
  CHECK(json_number(0.1) == "0.1");
  CHECK(json_number(-0.0) == "0");
  CHECK(json_number(1.0 / 0.0) == "null");
  CHECK(json_number(12345678.0) == "12345678");
}

TEST_CASE("csv: one row per (phase, rank) with exact microseconds") {
  const auto csv = to_phase_csv(test::hand_trace());
  CHECK(csv ==
        "phase,rank,start_us,end_us,time_us,compute_us,comm_us,exposed_comm_us,ops,bytes,flops\n"
        "0,0,0.000000,14.000000,14.000000,10.000000,12.000000,4.000000,3,8192,1000\n"
        "0,1,0.000000,9.000000,9.000000,5.000000,8.000000,4.000000,2,4096,500\n"
        "1,0,14.000000,22.000000,8.000000,8.000000,0.000000,0.000000,2,0,1000\n"
        "1,1,9.000000,35.000000,26.000000,21.000000,10.000000,5.000000,2,4096,2000\n");
}

TEST_CASE("summary builder: a rank at a time, in any rank order, gives summarize()'s summary; bad ranks refused") {
  const auto t = test::hand_trace();
  const SummaryInputs in{microseconds(70), Bytes(1 << 20)};
  const std::string expected = to_json(summarize(t, two_rank_schedule(), in));
  std::vector<std::vector<OpRecord>> by_rank(2);
  for (const auto& r : t.records) by_rank[static_cast<std::size_t>(r.rank)].push_back(r);
  SummaryBuilder forward(2, "ring");
  for (const auto& recs : by_rank) forward.add_rank(recs);
  CHECK(to_json(forward.finish("abc123", "cpu", in)) == expected);
  SummaryBuilder backward(2, "ring");
  backward.add_rank(by_rank[1]);
  backward.add_rank(by_rank[0]);
  CHECK(to_json(backward.finish("abc123", "cpu", in)) == expected);
  // Nothing given: the empty trace's summary.
  CHECK(to_json(SummaryBuilder(2, "ring").finish("abc123", "cpu")) == to_json(summarize(Trace{"abc123", "cpu", 2, {}, {}}, two_rank_schedule())));
  // Phase numbers far apart (kept in a map, not by index) come out in order.
  std::vector<OpRecord> sparse = {test::rec(0, 0, 3000000, ir::Stream::compute, "attend", 5, 6),
                                  test::rec(0, 1, 7, ir::Stream::compute, "attend", 0, 2)};
  SummaryBuilder far(1, "ring");
  far.add_rank(sparse);
  const auto s = far.finish("h", "sim");
  REQUIRE(s.phases.size() == 2);
  CHECK(s.phases[0].phase == 7);
  CHECK(s.phases[1].phase == 3000000);
  Trace sparse_trace{"h", "sim", 1, sparse, {}};
  ir::Schedule one;
  one.variant = "ring";
  one.ranks.resize(1);
  CHECK(to_json(s) == to_json(summarize(sparse_trace, one)));
  // Refused: a rank outside the schedule, two ranks in one call, a record running backwards.
  SummaryBuilder bad(1, "ring");
  CHECK_THROWS_WITH_AS(bad.add_rank(by_rank[1]), doctest::Contains("trace names rank 1"), Error);
  CHECK_THROWS_WITH_AS(bad.add_rank(t.records), doctest::Contains("records of ranks 0 and 1"), Error);
  auto backwards = by_rank[0];
  backwards[2].end = backwards[2].start - Time(1);
  CHECK_THROWS_WITH_AS(bad.add_rank(backwards), doctest::Contains("ends before it starts"), Error);
}

TEST_CASE("rank stream: records given as they become final, settled on the way, give add_rank()'s summary") {
  // Random ranks: ops in program order with phases non-decreasing and overlapping intervals (a later
  // op may start earlier, as a recv posted before the previous phase's compute ended does). The
  // watermark given before each record is at most the start of every record still to come.
  std::mt19937_64 rng(20261207);
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const std::int32_t ranks = 1 + static_cast<std::int32_t>(rng() % 4);
    SummaryBuilder whole(ranks, "ring");
    SummaryBuilder streamed(ranks, "ring");
    for (std::int32_t r = 0; r < ranks; ++r) {
      const std::size_t n = rng() % 200;
      std::vector<OpRecord> recs;
      std::uint32_t phase = static_cast<std::uint32_t>(rng() % 3);
      std::int64_t t = static_cast<std::int64_t>(rng() % 50);
      for (std::size_t i = 0; i < n; ++i) {
        if (rng() % 3 == 0) phase += 1 + static_cast<std::uint32_t>(rng() % 2);
        t += static_cast<std::int64_t>(rng() % 20);
        const std::int64_t start = t - static_cast<std::int64_t>(rng() % 15);
        const std::int64_t end = start + static_cast<std::int64_t>(rng() % 40);  // empty ones too
        const bool comm = rng() % 2 == 0;
        OpRecord rec;
        rec.rank = r;
        rec.op = static_cast<ir::OpId>(i);
        rec.phase = phase;
        rec.stream = comm ? ir::Stream::comm : ir::Stream::compute;
        rec.kind = comm ? "send" : "attend";
        rec.start = Time(start);
        rec.end = Time(end);
        recs.push_back(rec);
      }
      whole.add_rank(recs);
      // Suffix minima of the starts: the latest watermark each prefix allows.
      std::vector<std::int64_t> later(n + 1, std::numeric_limits<std::int64_t>::max());
      for (std::size_t i = n; i-- > 0;) later[i] = std::min(later[i + 1], recs[i].start.value);
      RankStream stream(r, 1 + rng() % 40);  // folding after 1 to 40 records
      std::int64_t w = std::numeric_limits<std::int64_t>::min();
      for (std::size_t i = 0; i < n; ++i) {
        if (rng() % 2 == 0) {
          w = std::max(w, later[i] - static_cast<std::int64_t>(rng() % 3));
          const std::uint32_t closed = recs[i].phase - (rng() % 4 == 0 ? std::min<std::uint32_t>(recs[i].phase, 1) : 0);
          stream.settle(Time(w), closed, streamed);
        }
        stream.add(recs[i].phase, is_comm_kind(recs[i].kind), recs[i].start, recs[i].end);
      }
      stream.finish(streamed);
    }
    CHECK(to_json(streamed.finish("h", "sim")) == to_json(whole.finish("h", "sim")));
  }
}

TEST_CASE("rank stream: a record before the watermark, running backwards or of a rank outside is refused") {
  SummaryBuilder b(2, "ring");
  RankStream s(0);
  s.add(0, false, Time(0), Time(10));
  s.settle(Time(5), 0, b);
  CHECK_THROWS_WITH_AS(s.add(1, true, Time(4), Time(8)), doctest::Contains("came after the watermark 5 ps"), Error);
  CHECK_THROWS_WITH_AS(s.add(1, true, Time(9), Time(8)), doctest::Contains("ends (8 ps) before it starts (9 ps)"), Error);
  CHECK_THROWS_WITH_AS(s.settle(Time(4), 0, b), doctest::Contains("before the last one"), Error);
  RankStream outside(2);
  outside.add(0, false, Time(0), Time(1));
  CHECK_THROWS_WITH_AS(outside.finish(b), doctest::Contains("trace names rank 2"), Error);
}
