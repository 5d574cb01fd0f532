#pragma once
// Interval arithmetic shared by the simulator's per-phase statistics and the trace analysis (exposed
// communication = a phase's transfer time not covered by the rank's compute). Intervals are half-open
// [first, second) pairs of Time or of raw picoseconds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "ringlab/core/search.hpp"
#include "ringlab/core/units.hpp"

namespace ringlab {

/// Picoseconds of a time point, whichever way it is held.
[[nodiscard]] constexpr std::int64_t interval_ticks(std::int64_t ps) noexcept { return ps; }
[[nodiscard]] constexpr std::int64_t interval_ticks(Time t) noexcept { return t.value; }

namespace detail {
/// merge_intervals of more than two intervals: sort if need be, then one scan.
template <class T>
void merge_many_intervals(std::vector<std::pair<T, T>>& v) {
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
}  // namespace detail

/// Sorts and merges overlapping or touching intervals in place into a disjoint, sorted union (empty
/// intervals dropped: they make nothing busy). No allocation: callers reuse their scratch vectors.
/// Up to two intervals (a rank's transfers of one ring step, once per phase) are merged inline, the
/// rest out of line: as one function the sort kept GCC from inlining the common case.
template <class T>
[[gnu::always_inline]] inline void merge_intervals(std::vector<std::pair<T, T>>& v) {
  if (v.size() > 2) {
    detail::merge_many_intervals(v);
    return;
  }
  if (v.size() == 2) {
    auto& a = v[0];
    auto& b = v[1];
    if (b < a) std::swap(a, b);
    if (b.second <= b.first) {
      v.pop_back();
    } else if (a.second > a.first && b.first <= a.second) {
      a.second = std::max(a.second, b.second);
      v.pop_back();
    }
  }
  if (!v.empty() && v[0].second <= v[0].first) v.erase(v.begin());
}

/// Total length, in ps, of merged intervals.
template <class T>
[[nodiscard]] std::int64_t interval_length(const std::vector<std::pair<T, T>>& merged) noexcept {
  std::int64_t n = 0;
  for (const auto& [a, b] : merged) n += interval_ticks(b) - interval_ticks(a);
  return n;
}

/// Length, in ps, of the intersection of two merged interval lists. `hint` is where the last call's
/// search through `b` ended: a rank's phases come in time order, so searching outward from it
/// (gallop_search) finds the first interval of `b` ending after each start of `a` in a step or two,
/// where walking `b` from its start per phase cost O(P) and a binary search log2(2P) (P ranks).
template <class T>
[[nodiscard]] std::int64_t overlap_length(const std::vector<std::pair<T, T>>& a, const std::vector<std::pair<T, T>>& b,
                                          std::size_t& hint) {
  std::int64_t n = 0;
  const std::size_t size = b.size();
  for (const auto& [s, e] : a) {
    // First j with b[j].second > s (b is merged: sorted, disjoint, so its ends increase).
    const std::size_t j = gallop_search(size, hint, [&b, s = s](std::size_t k) { return b[k].second > s; });
    hint = j;
    for (std::size_t k = j; k < size && b[k].first < e; ++k) {
      const T lo = std::max(s, b[k].first);
      const T hi = std::min(e, b[k].second);
      if (hi > lo) n += interval_ticks(hi) - interval_ticks(lo);
    }
  }
  return n;
}

}  // namespace ringlab
