#include "analysis.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ringlab/core/error.hpp"
#include "ringlab/core/intervals.hpp"
#include "ringlab/trace/summary.hpp"

namespace ringlab::trace::detail {

namespace {

// Stable counting sort of `items` by key(item) - lo, keys in [lo, lo + span): linear in items + span.
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

}  // namespace

Analysis analyse(const Trace& trace) {
  Analysis an;
  const auto& recs = trace.records;
  if (recs.empty()) return an;
  std::int32_t rank_lo = recs.front().rank;
  std::int32_t rank_hi = rank_lo;
  an.first_start = recs.front().start.value;
  an.last_end = recs.front().end.value;
  for (const auto& r : recs) {
    if (r.end < r.start) {
      throw Error(fmt::format("trace record of rank {} op {} ({}) ends before it starts", r.rank, r.op, r.kind));
    }
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
  std::vector<Interval> compute_all, comm_all, compute, comm;
  std::vector<std::uint32_t> mine;
  std::vector<std::size_t> phase_starts;
  for (std::size_t g = 0; g + 1 < rank_starts.size(); ++g) {
    if (rank_starts[g] == rank_starts[g + 1]) continue;
    mine.assign(index.begin() + static_cast<std::ptrdiff_t>(rank_starts[g]),
                index.begin() + static_cast<std::ptrdiff_t>(rank_starts[g + 1]));
    const std::int32_t rank = recs[mine.front()].rank;
    compute_all.clear();
    comm_all.clear();
    std::uint32_t phase_lo = recs[mine.front()].phase;
    std::uint32_t phase_hi = phase_lo;
    for (const auto i : mine) {
      const auto& r = recs[i];
      (is_comm_kind(r.kind) ? comm_all : compute_all).emplace_back(r.start.value, r.end.value);
      phase_lo = std::min(phase_lo, r.phase);
      phase_hi = std::max(phase_hi, r.phase);
    }
    merge_intervals(compute_all);
    merge_intervals(comm_all);
    const auto& cu = compute_all;
    std::size_t from = 0;
    an.by_rank.push_back({rank, RankStats{interval_length(comm_all), overlap_length(comm_all, cu, from)}});
    // This rank's records by phase (a rank's phase numbers are dense too: its ring steps).
    std::size_t hint = 0;  // where the last phase's intersection with cu began
    const std::size_t phase_span = std::size_t{phase_hi} - phase_lo + 1;
    const bool sparse = phase_span > 4 * mine.size() + 1024;
    if (sparse) {
      std::stable_sort(mine.begin(), mine.end(), [&](std::uint32_t a, std::uint32_t b) { return recs[a].phase < recs[b].phase; });
    } else {
      mine = bucket_sort(mine, phase_lo, phase_span, [&](std::uint32_t i) { return recs[i].phase; }, phase_starts);
    }
    for (std::size_t a = 0; a < mine.size();) {
      const std::uint32_t phase = recs[mine[a]].phase;
      RankPhaseStats st;
      st.start = recs[mine[a]].start.value;
      st.end = recs[mine[a]].end.value;
      compute.clear();
      comm.clear();
      std::size_t b = a;
      for (; b < mine.size() && recs[mine[b]].phase == phase; ++b) {
        const auto& r = recs[mine[b]];
        st.start = std::min(st.start, r.start.value);
        st.end = std::max(st.end, r.end.value);
        ++st.ops;
        st.bytes += r.bytes.value;
        st.flops += r.flops.value;
        (is_comm_kind(r.kind) ? comm : compute).emplace_back(r.start.value, r.end.value);
      }
      merge_intervals(compute);
      merge_intervals(comm);
      st.compute = interval_length(compute);
      st.comm = interval_length(comm);
      st.exposed = st.comm - overlap_length(comm, cu, hint);
      by_rank_phase.push_back({{phase, rank}, st});
      a = b;
    }
  }
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
