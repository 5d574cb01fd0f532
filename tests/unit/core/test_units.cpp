#include <doctest/doctest.h>

#include "ringlab/core/units.hpp"

using namespace ringlab;

TEST_CASE("units: conversions are exact where they should be") {
  CHECK(seconds(1.0).value == 1'000'000'000'000);
  CHECK(microseconds(3.7).value == 3'700'000);
  CHECK(to_seconds(Time(2'500'000'000'000)) == doctest::Approx(2.5));
  // 32 MiB at 450 GB/s: 33554432 / 450e9 s = 74.565404... us = 74565404.4 ps -> rounds to 74565404.
  CHECK(transfer_time(Bytes(32 << 20), gb_per_s(450)).value == 74'565'404);
  // 1 PFLOP at 989 TFLOP/s = 1.01112234580384 s -> 1011122345803.84 ps, rounded up.
  CHECK(compute_time(Flops(1'000'000'000'000'000), tflops(989)).value == 1'011'122'345'804);
  CHECK(Time(5) + Time(7) == Time(12));
  CHECK(Bytes(10) / Bytes(4) == doctest::Approx(2.5));
}
