// gallop_search (the first index where a monotone predicate holds, found from any hint) and the interval
// arithmetic built on it.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "ringlab/core/intervals.hpp"
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

TEST_CASE("overlap_length with a search hint: the brute-force intersection, in any query order (Time and raw ps)") {
  std::mt19937_64 rng(7);
  using Iv = std::pair<Time, Time>;
  auto random_list = [&](int n, std::int64_t span) {
    std::vector<Iv> v;
    for (int i = 0; i < n; ++i) {
      const auto a = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span));
      v.emplace_back(Time(a), Time(a + 1 + static_cast<std::int64_t>(rng() % 50)));
    }
    merge_intervals(v);
    return v;
  };
  auto brute = [](const std::vector<Iv>& a, const std::vector<Iv>& b) {
    std::int64_t n = 0;
    for (const auto& x : a)
      for (const auto& y : b) n += std::max<std::int64_t>(0, (std::min(x.second, y.second) - std::max(x.first, y.first)).value);
    return n;
  };
  auto raw = [](const std::vector<Iv>& v) {  // the same intervals as raw picoseconds
    std::vector<std::pair<std::int64_t, std::int64_t>> r;
    for (const auto& [a, b] : v) r.emplace_back(a.value, b.value);
    return r;
  };
  int mismatches = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const auto busy = random_list(1 + static_cast<int>(rng() % 60), 2000);
    std::size_t hint = static_cast<std::size_t>(rng() % 100);  // even past the end
    std::size_t raw_hint = hint;
    for (int q = 0; q < 20; ++q) {  // queries in random (not time) order share the hint
      const auto phase = random_list(1 + static_cast<int>(rng() % 3), 2100);
      const std::int64_t expected = brute(phase, busy);
      mismatches += overlap_length(phase, busy, hint) != expected;
      mismatches += overlap_length(raw(phase), raw(busy), raw_hint) != expected;
    }
    mismatches += interval_length(busy) != interval_length(raw(busy));
  }
  CHECK(mismatches == 0);
  // Merging: overlapping and touching intervals join, empty ones vanish, order does not matter.
  std::vector<std::pair<std::int64_t, std::int64_t>> v = {{5, 9}, {0, 2}, {2, 3}, {7, 12}, {20, 20}, {15, 16}};
  merge_intervals(v);
  CHECK(v == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 3}, {5, 12}, {15, 16}});
  CHECK(interval_length(v) == 3 + 7 + 1);
}

TEST_CASE("merge_intervals: every list of up to three intervals on a small grid gives the sorted, disjoint union") {
  // Brute force: the points covered, as a bitmap over [0, 6); a merged list must cover exactly those,
  // in increasing order, with a gap between neighbours (touching intervals join) and none empty.
  using Iv = std::pair<std::int64_t, std::int64_t>;
  std::vector<Iv> all;
  for (std::int64_t a = 0; a <= 5; ++a)
    for (std::int64_t b = a - 1; b <= 5; ++b) all.emplace_back(a, b);  // b <= a: empty (b < a reversed)
  int lists = 0;
  int bad = 0;
  auto check = [&](std::vector<Iv> v) {
    unsigned covered = 0;
    for (const auto& [a, b] : v)
      for (std::int64_t p = a; p < b; ++p) covered |= 1U << p;
    merge_intervals(v);
    unsigned got = 0;
    bool shape = true;
    for (std::size_t i = 0; i < v.size(); ++i) {
      shape = shape && v[i].first < v[i].second && (i == 0 || v[i - 1].second < v[i].first);
      for (std::int64_t p = v[i].first; p < v[i].second; ++p) got |= 1U << p;
    }
    bad += !shape || got != covered;
    ++lists;
  };
  for (const auto& x : all) {
    check({x});
    for (const auto& y : all) {
      check({x, y});
      for (std::size_t k = 0; k < all.size(); k += 3) check({x, y, all[k]});
    }
  }
  check({});
  CHECK(lists > 7000);
  CHECK(bad == 0);
}
