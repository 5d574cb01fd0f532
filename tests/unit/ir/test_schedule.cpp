#include <doctest/doctest.h>

#include "ringlab/ir/schedule.hpp"

TEST_CASE("ir: token_count sums chunks") {
  ringlab::ir::TokenSet s{{{0, 4, 1}, {12, 4, 1}}};
  CHECK(ringlab::ir::token_count(s) == 8);
}
