#pragma once
// Interval arithmetic of the simulator's per-phase statistics (exposed communication = a phase's
// transfer time not covered by the rank's compute).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "ringlab/core/search.hpp"
#include "ringlab/core/units.hpp"

namespace ringlab::sim::detail {

/// Total length of merged (sorted, disjoint) intervals.
inline std::int64_t interval_length(const std::vector<std::pair<Time, Time>>& merged) {
  std::int64_t n = 0;
  for (const auto& [a, b] : merged) n += (b - a).value;
  return n;
}

/// Sorts and merges intervals in place (empty ones dropped).
inline void merge_intervals(std::vector<std::pair<Time, Time>>& v) {
  if (!std::is_sorted(v.begin(), v.end())) std::sort(v.begin(), v.end());
  std::size_t out = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].second <= v[i].first) continue;
    if (out > 0 && v[i].first <= v[out - 1].second) {
      v[out - 1].second = std::max(v[out - 1].second, v[i].second);
    } else {
      v[out++] = v[i];
    }
  }
  v.resize(out);
}

/// Length of the intersection of two merged interval lists. `hint` is where the last call's search
/// ended: a rank's phases come in time order, so searching outward from it (galloping) finds the first
/// interval of `b` ending after each start in a step or two, where a binary search over the rank's whole
/// busy list cost log2(2P) steps per phase — P^2 log P at P ranks.
inline std::int64_t overlap_length(const std::vector<std::pair<Time, Time>>& a, const std::vector<std::pair<Time, Time>>& b,
                            std::size_t& hint) {
  std::int64_t n = 0;
  const std::size_t size = b.size();
  for (const auto& [s, e] : a) {
    // First j with b[j].second > s (b is merged: sorted, disjoint, so its ends increase).
    const std::size_t j = gallop_search(size, hint, [&b, s = s](std::size_t k) { return b[k].second > s; });
    hint = j;
    for (std::size_t k = j; k < size && b[k].first < e; ++k) {
      const Time lo_t = std::max(s, b[k].first);
      const Time hi_t = std::min(e, b[k].second);
      if (hi_t > lo_t) n += (hi_t - lo_t).value;
    }
  }
  return n;
}

}  // namespace ringlab::sim::detail
