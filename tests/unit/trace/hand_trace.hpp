#pragma once
// A hand-made two-rank, two-phase trace whose statistics test_summary.cpp derives by hand.
#include "ringlab/trace/record.hpp"

namespace ringlab::trace::test {

inline OpRecord rec(std::int32_t rank, ir::OpId op, std::uint32_t phase, ir::Stream stream, const char* kind,
                    double start_us, double end_us, std::int64_t bytes = 0, std::int64_t flops = 0) {
  OpRecord r;
  r.rank = rank;
  r.op = op;
  r.phase = phase;
  r.stream = stream;
  r.kind = kind;
  r.start = microseconds(start_us);
  r.end = microseconds(end_us);
  r.bytes = Bytes(bytes);
  r.flops = Flops(flops);
  return r;
}

/// Rank 0: attend [0,10) and send [2,14) + recv [4,12) in phase 0, attend [14,20) + merge [20,22) in
/// phase 1. Rank 1: attend [0,5) + send [1,9) in phase 0, attend [9,30) + send [25,35) in phase 1.
inline Trace hand_trace() {
  using ir::Stream;
  Trace t;
  t.schedule_hash = "abc123";
  t.source = "cpu";
  t.ranks = 2;
  t.records = {
      rec(0, 0, 0, Stream::compute, "attend", 0, 10, 0, 1000),
      rec(0, 1, 0, Stream::comm, "send", 2, 14, 4096),
      rec(0, 2, 0, Stream::comm, "recv", 4, 12, 4096),
      rec(0, 3, 1, Stream::compute, "attend", 14, 20, 0, 1000),
      rec(0, 4, 1, Stream::compute, "merge", 20, 22),
      rec(1, 0, 0, Stream::compute, "attend", 0, 5, 0, 500),
      rec(1, 1, 0, Stream::comm, "send", 1, 9, 4096),
      rec(1, 2, 1, Stream::compute, "attend", 9, 30, 0, 2000),
      rec(1, 3, 1, Stream::comm, "send", 25, 35, 4096),
  };
  return t;
}

}  // namespace ringlab::trace::test
