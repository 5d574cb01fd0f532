// gallop_search: the first index where a monotone predicate holds, found from any hint.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "ringlab/core/search.hpp"

using namespace ringlab;

TEST_CASE("gallop_search agrees with partition_point for every hint, including past the end") {
  std::mt19937 rng(11);
  int mismatches = 0;
  int cases = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int> v(rng() % 70);
    for (auto& x : v) x = static_cast<int>(rng() % 100);
    std::sort(v.begin(), v.end());
    const int threshold = static_cast<int>(rng() % 110) - 5;
    const auto expected = static_cast<std::size_t>(
        std::partition_point(v.begin(), v.end(), [&](int x) { return x < threshold; }) - v.begin());
    for (std::size_t hint = 0; hint <= v.size() + 3; ++hint) {
      const std::size_t got = gallop_search(v.size(), hint, [&](std::size_t i) { return v[i] >= threshold; });
      mismatches += got != expected;
      ++cases;
    }
  }
  CHECK(cases > 5000);
  CHECK(mismatches == 0);
  CHECK(gallop_search(0, 5, [](std::size_t) { return true; }) == 0);  // empty range: n
}
