// The simulator's ShortList (a GPU's kernels and transfer factors, a rank's posted sends and recvs):
// the same elements in the same order as a std::vector doing the same, inline (two) and on the heap.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "ringlab/sim/short_list.hpp"

using ringlab::sim::ShortList;

namespace {
template <class T>
std::vector<T> items(const ShortList<T>& l) {
  return std::vector<T>(l.begin(), l.end());
}
}  // namespace

TEST_CASE("ShortList::erase_value removes the first equal element and keeps the order of the rest") {
  ShortList<double> l;
  l.push_back(2.0);
  l.push_back(1.5);
  l.erase_value(2.0);  // inline, the first of two
  CHECK(items(l) == std::vector<double>{1.5});
  for (const double x : {1.5, 3.0, 1.5, 4.0}) l.push_back(x);  // on the heap from the third
  CHECK(items(l) == std::vector<double>{1.5, 1.5, 3.0, 1.5, 4.0});
  l.erase_value(1.5);  // only the first of three
  CHECK(items(l) == std::vector<double>{1.5, 3.0, 1.5, 4.0});
  l.erase_value(4.0);  // the last
  CHECK(items(l) == std::vector<double>{1.5, 3.0, 1.5});
  l.erase_value(3.0);
  l.erase_value(1.5);
  l.erase_value(1.5);
  CHECK(l.empty());
}

TEST_CASE("ShortList: random pushes and erases match std::vector") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    ShortList<std::uint32_t> l;
    std::vector<std::uint32_t> ref;
    for (int step = 0; step < 40; ++step) {
      if (ref.empty() || rng() % 3 != 0) {
        const auto x = static_cast<std::uint32_t>(rng() % 5);  // repeats, so "the first equal" matters
        l.push_back(x);
        ref.push_back(x);
      } else {
        const std::uint32_t x = ref[rng() % ref.size()];
        l.erase_value(x);
        ref.erase(std::find(ref.begin(), ref.end(), x));
      }
      REQUIRE(items(l) == ref);
      REQUIRE(l.size() == ref.size());
    }
    const ShortList<std::uint32_t> copy = l;  // copies keep the order too
    CHECK(items(copy) == ref);
  }
}
