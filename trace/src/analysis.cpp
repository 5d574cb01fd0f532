#include "analysis.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ringlab/core/error.hpp"
#include "ringlab/core/intervals.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::trace::detail {

void check_record(const OpRecord& r) {
  if (r.end < r.start) {
    throw Error(fmt::format("trace record of rank {} op {} ({}) ends before it starts", r.rank, r.op, r.kind));
  }
}

Analysis analyse(const Trace& trace) {
  Analysis an;
  const auto& recs = trace.records;
  if (recs.empty()) return an;
  std::int32_t rank_lo = recs.front().rank;
  std::int32_t rank_hi = rank_lo;
  an.first_start = recs.front().start.value;
  an.last_end = recs.front().end.value;
  for (const auto& r : recs) {
    check_record(r);
    rank_lo = std::min(rank_lo, r.rank);
    rank_hi = std::max(rank_hi, r.rank);
    an.first_start = std::min(an.first_start, r.start.value);
    an.last_end = std::max(an.last_end, r.end.value);
  }
  // Records grouped by rank (ranks are dense in practice: 0 .. P-1), in trace order within a rank.
  std::vector<std::uint32_t> index(recs.size());
  for (std::size_t i = 0; i < recs.size(); ++i) index[i] = static_cast<std::uint32_t>(i);
  std::vector<std::size_t> rank_starts;
  const auto rank_span = static_cast<std::size_t>(static_cast<std::int64_t>(rank_hi) - rank_lo + 1);
  if (rank_span > 4 * recs.size() + 1024) {
    // Sparse rank numbers: sort instead of bucketing by value.
    std::stable_sort(index.begin(), index.end(), [&](std::uint32_t a, std::uint32_t b) { return recs[a].rank < recs[b].rank; });
    rank_starts = {0};
    for (std::size_t i = 1; i <= index.size(); ++i) {
      if (i == index.size() || recs[index[i]].rank != recs[index[i - 1]].rank) rank_starts.push_back(i);
    }
  } else {
    index = bucket_sort(index, rank_lo, rank_span, [&](std::uint32_t i) { return recs[i].rank; }, rank_starts);
  }
  std::vector<std::pair<std::pair<std::uint32_t, std::int32_t>, RankPhaseStats>> by_rank_phase;
  std::vector<std::size_t> phase_starts;
  RankAnalyser ranks;
  for (std::size_t g = 0; g + 1 < rank_starts.size(); ++g) {
    if (rank_starts[g] == rank_starts[g + 1]) continue;
    const std::uint32_t* mine = index.data() + rank_starts[g];
    const std::int32_t rank = recs[mine[0]].rank;
    const RankStats totals = ranks.analyse(
        rank_starts[g + 1] - rank_starts[g], [&](std::size_t i) -> const OpRecord& { return recs[mine[i]]; },
        [&](std::uint32_t phase, const RankPhaseStats& st) { by_rank_phase.push_back({{phase, rank}, st}); });
    an.by_rank.push_back({rank, totals});
  }
  if (by_rank_phase.empty()) return an;
  // (rank, phase) order -> (phase, rank) order. Ranks ascend within each phase because ranks were
  // visited in ascending order and the sort is stable.
  std::uint32_t phase_lo = by_rank_phase.front().first.first;
  std::uint32_t phase_hi = phase_lo;
  for (const auto& e : by_rank_phase) {
    phase_lo = std::min(phase_lo, e.first.first);
    phase_hi = std::max(phase_hi, e.first.first);
  }
  const std::size_t phase_span = std::size_t{phase_hi} - phase_lo + 1;
  if (phase_span > 4 * by_rank_phase.size() + 1024) {
    std::stable_sort(by_rank_phase.begin(), by_rank_phase.end(), [](const auto& x, const auto& y) { return x.first.first < y.first.first; });
    an.by_phase_rank = std::move(by_rank_phase);
  } else {
    an.by_phase_rank = bucket_sort(by_rank_phase, phase_lo, phase_span, [](const auto& e) { return e.first.first; }, phase_starts);
  }
  return an;
}

std::string ps_as_us(std::int64_t ps) {
  const bool negative = ps < 0;
  // Work on the magnitude as unsigned so INT64_MIN cannot overflow.
  const std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(ps) : static_cast<std::uint64_t>(ps);
  return fmt::format("{}{}.{:06}", negative ? "-" : "", mag / 1'000'000U, mag % 1'000'000U);
}

}  // namespace ringlab::trace::detail
