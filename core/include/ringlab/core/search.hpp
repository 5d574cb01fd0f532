#pragma once
// Searching sorted data from a remembered position.
#include <algorithm>
#include <cstddef>

namespace ringlab {

/// The first index i in [0, n) with pred(i) true, or n if none; pred must be monotone (false up to
/// some index, true from it on). Searches outward from `hint` (any value; clamped) by doubling steps,
/// then bisects the bracket: O(log d) for an answer d away from the hint. Callers that ask about
/// increasing positions (a rank's phases in time order) pass the last answer and pay a step or two.
template <class Pred>
[[nodiscard]] std::size_t gallop_search(std::size_t n, std::size_t hint, Pred pred) {
  auto holds = [&](std::size_t i) { return i >= n || pred(i); };
  const std::size_t j = std::min(hint, n);
  std::size_t lo = 0;  // answer in [lo, hi]; holds(hi)
  std::size_t hi = n;
  if (holds(j)) {
    hi = j;
    std::size_t step = 1;
    while (step <= j && holds(j - step)) {
      hi = j - step;
      step *= 2;
    }
    lo = step <= j ? j - step + 1 : 0;
  } else {
    lo = j + 1;
    std::size_t step = 1;
    while (j + step < n && !holds(j + step)) {
      lo = j + step + 1;
      step *= 2;
    }
    hi = std::min(j + step, n);
  }
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (holds(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace ringlab
