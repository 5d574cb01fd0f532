#pragma once
// Private: per-(rank, phase) busy-time statistics shared by summarize() and the CSV writer.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ringlab/core/intervals.hpp"
#include "ringlab/trace/record.hpp"
#include "ringlab/trace/summary.hpp"

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

/// Stable counting sort of `items` by key(item) - lo, keys in [lo, lo + span): linear in items + span.
template <class T, class Key>
std::vector<T> bucket_sort(const std::vector<T>& items, std::int64_t lo, std::size_t span, Key key,
                           std::vector<std::size_t>& starts) {
  starts.assign(span + 1, 0);
  for (const auto& it : items) ++starts[static_cast<std::size_t>(key(it) - lo) + 1];
  for (std::size_t k = 0; k < span; ++k) starts[k + 1] += starts[k];
  std::vector<std::size_t> next(starts.begin(), starts.end() - 1);
  std::vector<T> out(items.size());
  for (const auto& it : items) out[next[static_cast<std::size_t>(key(it) - lo)]++] = it;
  return out;
}

/// A phase's busy figures from its compute and comm intervals (merged here, in place): compute and comm
/// busy time, and the comm busy time no interval of `rank_compute` (the rank's compute, merged) covers.
/// `hint` as overlap_length's. The one definition of a phase's exposed communication, for analyse()
/// and for RankStream, which folds a rank's phases as the simulator retires their ops.
inline void phase_busy(RankPhaseStats& st, std::vector<Interval>& compute, std::vector<Interval>& comm,
                       const std::vector<Interval>& rank_compute, std::size_t& hint) {
  merge_intervals(compute);
  merge_intervals(comm);
  st.compute = interval_length(compute);
  st.comm = interval_length(comm);
  st.exposed = st.comm - overlap_length(comm, rank_compute, hint);
}

/// Throws Error if `r` ends before it starts.
void check_record(const OpRecord& r);

/// The statistics of one rank, from all of its records; its scratch is kept from rank to rank. Shared by
/// analyse() (a whole trace, grouped by rank) and SummaryBuilder (a rank at a time, nothing kept).
class RankAnalyser {
 public:
  /// Rank `rank`'s records rec(0) .. rec(n-1), in trace order (n > 0): calls on_phase(phase, stats) for
  /// each of its phases in increasing order and returns its totals.
  template <class Rec, class OnPhase>
  RankStats analyse(std::size_t n, Rec rec, OnPhase on_phase) {
    compute_all_.clear();
    comm_all_.clear();
    std::uint32_t phase_lo = rec(0).phase;
    std::uint32_t phase_hi = phase_lo;
    for (std::size_t i = 0; i < n; ++i) {
      const OpRecord& r = rec(i);
      (is_comm_kind(r.kind) ? comm_all_ : compute_all_).emplace_back(r.start.value, r.end.value);
      phase_lo = std::min(phase_lo, r.phase);
      phase_hi = std::max(phase_hi, r.phase);
    }
    merge_intervals(compute_all_);
    merge_intervals(comm_all_);
    const auto& cu = compute_all_;
    std::size_t from = 0;
    const RankStats totals{interval_length(comm_all_), overlap_length(comm_all_, cu, from)};
    // The records by phase (a rank's phase numbers are dense too: its ring steps).
    mine_.resize(n);
    for (std::size_t i = 0; i < n; ++i) mine_[i] = static_cast<std::uint32_t>(i);
    std::size_t hint = 0;  // where the last phase's intersection with cu began
    const std::size_t phase_span = std::size_t{phase_hi} - phase_lo + 1;
    if (phase_span > 4 * n + 1024) {
      std::stable_sort(mine_.begin(), mine_.end(), [&](std::uint32_t a, std::uint32_t b) { return rec(a).phase < rec(b).phase; });
    } else {
      mine_ = bucket_sort(mine_, phase_lo, phase_span, [&](std::uint32_t i) { return rec(i).phase; }, phase_starts_);
    }
    for (std::size_t a = 0; a < n;) {
      const std::uint32_t phase = rec(mine_[a]).phase;
      RankPhaseStats st;
      st.start = rec(mine_[a]).start.value;
      st.end = rec(mine_[a]).end.value;
      compute_.clear();
      comm_.clear();
      std::size_t b = a;
      for (; b < n && rec(mine_[b]).phase == phase; ++b) {
        const OpRecord& r = rec(mine_[b]);
        st.start = std::min(st.start, r.start.value);
        st.end = std::max(st.end, r.end.value);
        ++st.ops;
        st.bytes += r.bytes.value;
        st.flops += r.flops.value;
        (is_comm_kind(r.kind) ? comm_ : compute_).emplace_back(r.start.value, r.end.value);
      }
      phase_busy(st, compute_, comm_, cu, hint);
      on_phase(phase, st);
      a = b;
    }
    return totals;
  }

 private:
  std::vector<Interval> compute_all_, comm_all_, compute_, comm_;
  std::vector<std::uint32_t> mine_;
  std::vector<std::size_t> phase_starts_;
};

/// Analyses a trace; throws Error if a record ends before it starts.
[[nodiscard]] Analysis analyse(const Trace& trace);

/// Picoseconds as microseconds with exactly six decimals ("-1.000001" style for negatives).
[[nodiscard]] std::string ps_as_us(std::int64_t ps);

}  // namespace ringlab::trace::detail
