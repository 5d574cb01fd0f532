// Calibration's timing runs on the cpu backend: every point of the grid timed once, in the documented
// order, each op as launched (its shape, its bytes), and grids that cannot be timed refused.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "ringlab/core/error.hpp"
#include "ringlab/runtime/calibration.hpp"
#include "ringlab/runtime/cpu_backend.hpp"

using namespace ringlab;

namespace {
runtime::CalibrationGrid tiny() {
  auto g = runtime::CalibrationGrid::quick();
  g.block_lengths = {32, 16};  // unsorted on purpose: timed in increasing order
  g.head_dims = {8};
  g.stream_rows = {16, 64};
  g.stream_heads = 1;
  g.stream_head_dim = 8;
  g.message_sizes = {Bytes(4096), Bytes(65536)};
  g.repetitions = 1;
  g.warmup = 0;
  return g;
}
}  // namespace

TEST_CASE("calibration timing: every point, in order, each op as launched") {
  auto grid = tiny();
  std::vector<std::string> lines;
  grid.progress = [&](const std::string& l) { lines.push_back(l); };
  runtime::CpuBackend backend;
  const trace::OpTimings t = runtime::time_calibration_ops(backend, grid);
  CHECK(t.backend == "cpu");
  CHECK(t.repetitions == 1);
  CHECK(t.threads >= 1);
  CHECK(t.date.size() == 10);  // YYYY-MM-DD
  // 2 masks x 1 head dim x 2 x 2 blocks, then merge + copy per stream size, then the transfers.
  REQUIRE(t.ops.size() == 8 + 4 + 2);
  CHECK(lines.size() == t.ops.size());
  const std::int64_t blocks[4][2] = {{16, 16}, {16, 32}, {32, 16}, {32, 32}};
  for (std::size_t i = 0; i < 8; ++i) {
    const auto* a = std::get_if<ir::Attend>(&t.ops[i].op.kind);
    REQUIRE(a != nullptr);
    CHECK(t.ops[i].workload.causal == (i >= 4));
    CHECK(t.ops[i].workload.head_dim == 8);
    CHECK(a->q.tokens == blocks[i % 4][0]);
    CHECK(a->kv.tokens == blocks[i % 4][1]);
    CHECK(a->flops.value > 0);
    CHECK(t.ops[i].seconds > 0);
  }
  for (std::size_t s = 0; s < 2; ++s) {
    const auto& merge = t.ops[8 + 2 * s];
    const auto& copy = t.ops[9 + 2 * s];
    REQUIRE(std::holds_alternative<ir::Merge>(merge.op.kind));
    REQUIRE(std::holds_alternative<ir::Copy>(copy.op.kind));
    CHECK(std::get<ir::Merge>(merge.op.kind).rows == grid.stream_rows[s]);
    // The copy moves the K,V of `rows` tokens: 2 x rows x kv heads x d x 4 bytes (fp32 on the cpu).
    CHECK(std::get<ir::Copy>(copy.op.kind).src.bytes.value == 2 * grid.stream_rows[s] * 1 * 8 * 4);
    CHECK_FALSE(merge.buffers.empty());  // the fit prices a merge by its buffers' dtypes
    CHECK(merge.seconds > 0);
    CHECK(copy.seconds > 0);
  }
  for (std::size_t m = 0; m < 2; ++m) {
    const auto* send = std::get_if<ir::Send>(&t.ops[12 + m].op.kind);
    REQUIRE(send != nullptr);
    CHECK(send->data.bytes == grid.message_sizes[m]);
    CHECK(t.ops[12 + m].seconds > 0);
  }
}

TEST_CASE("calibration timing: grids that cannot be timed are refused") {
  runtime::CpuBackend backend;
  auto bad = tiny();
  bad.repetitions = 0;
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad), doctest::Contains("repetitions"), Error);
  bad = tiny();
  bad.warmup = -1;
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad), doctest::Contains("warmup"), Error);
  bad = tiny();
  bad.message_sizes = {Bytes(4097), Bytes(8192)};
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad), doctest::Contains("multiple of 4"), Error);
  bad = tiny();
  bad.message_sizes = {Bytes(4096)};
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad),
                       doctest::Contains("at least two message sizes"), Error);
  bad = tiny();
  bad.head_dims = {0};
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad), doctest::Contains("head dim 0"), Error);
  bad = tiny();
  bad.block_lengths = {0};
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad), doctest::Contains("block length 0"), Error);
  bad = tiny();
  bad.stream_rows = {-1};
  CHECK_THROWS_WITH_AS((void)runtime::time_calibration_ops(backend, bad), doctest::Contains("stream rows -1"), Error);
}
