// median: the middle value, the mean of the two middle ones, an error for none.
#include <doctest/doctest.h>

#include "ringlab/core/error.hpp"
#include "ringlab/core/stats.hpp"
#include "ringlab/core/units.hpp"

using namespace ringlab;

TEST_CASE("median") {
  CHECK(median({3, 1, 2}) == 2);
  CHECK(median({4, 1, 3, 2}) == 2.5);
  CHECK(median({7}) == 7);
  CHECK_THROWS_AS((void)median({}), Error);
}

TEST_CASE("exact_size: the largest binary unit that divides the size") {
  CHECK(exact_size(Bytes(64 << 20)) == "64 MiB");
  CHECK(exact_size(Bytes(4096)) == "4 KiB");
  CHECK(exact_size(Bytes(1536 * 1024)) == "1536 KiB");
  CHECK(exact_size(Bytes(4097)) == "4097 B");
  CHECK(exact_size(Bytes(0)) == "0 B");
}
