#pragma once
// Private: per-(rank, phase) busy-time statistics shared by summarize() and the CSV writer.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ringlab/trace/record.hpp"

namespace ringlab::trace::detail {

/// A half-open time interval [first, second) in picoseconds.
using Interval = std::pair<std::int64_t, std::int64_t>;

/// Statistics of one rank's ops of one phase (times in ps).
struct RankPhaseStats {
  std::int64_t start = 0;        ///< first start
  std::int64_t end = 0;          ///< last end
  std::int64_t compute = 0;      ///< compute busy time
  std::int64_t comm = 0;         ///< comm busy time
  std::int64_t exposed = 0;      ///< comm busy while the rank's compute (any phase) is idle
  std::int64_t ops = 0;          ///< records
  std::int64_t bytes = 0;        ///< bytes of the records
  std::int64_t flops = 0;        ///< FLOPs of the records
};

/// Per-rank totals over all phases.
struct RankStats {
  std::int64_t comm = 0;         ///< comm busy time
  std::int64_t hidden = 0;       ///< comm busy while compute is busy
};

/// Everything summarize() and the CSV need. Flat sorted vectors, not maps: a trace of a P = 4096 ring has
/// 58.7M records and 16.8M (phase, rank) pairs.
struct Analysis {
  /// ((phase, rank), stats), sorted by phase then rank; only pairs with records.
  std::vector<std::pair<std::pair<std::uint32_t, std::int32_t>, RankPhaseStats>> by_phase_rank;
  std::vector<std::pair<std::int32_t, RankStats>> by_rank;  ///< (rank, stats), sorted by rank
  std::int64_t first_start = 0;               ///< earliest start (0 when empty)
  std::int64_t last_end = 0;                  ///< latest end (0 when empty)
};

/// Analyses a trace; throws Error if a record ends before it starts.
[[nodiscard]] Analysis analyse(const Trace& trace);

/// Picoseconds as microseconds with exactly six decimals ("-1.000001" style for negatives).
[[nodiscard]] std::string ps_as_us(std::int64_t ps);

}  // namespace ringlab::trace::detail
