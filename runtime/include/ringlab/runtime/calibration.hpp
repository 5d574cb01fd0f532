#pragma once
// The measuring half of `ringlab calibrate`: time a backend's own kernels and transfers over a grid of
// block shapes and message sizes (warm-up runs, then repetitions; the median is kept), each op launched
// alone through the public Backend interface on a schedule built by ir::generate (one rank for
// attend/copy, two for merge/transfer), so the figures are exactly what `ringlab run` records for the
// same ops. Fitting the models to them is report's (report/calibrate.hpp).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/runtime/executor.hpp"
#include "ringlab/trace/timing.hpp"

namespace ringlab::runtime {

/// What to time.
struct CalibrationGrid {
  std::vector<std::int64_t> block_lengths{128, 256, 512, 1024};  ///< q_len and kv_len values (a full grid)
  std::vector<std::int64_t> head_dims{32, 64, 128};             ///< head dims of the attention blocks
  std::vector<std::int64_t> stream_rows{512, 2048, 8192, 32768};  ///< merge rows and copy tokens timed
  std::int64_t stream_heads = 4;                                 ///< query heads of the merge/copy workload
  std::int64_t stream_head_dim = 64;                             ///< head dim of the merge/copy workload
  std::vector<Bytes> message_sizes;  ///< transfer sizes (bytes, multiples of 4); default 1 KiB .. 64 MiB x4
  int warmup = 1;                    ///< untimed runs before each op
  int repetitions = 5;               ///< timed runs per op (the median is kept)
  std::uint64_t seed = 1;            ///< seed of the inputs (make_inputs)
  /// Progress lines (stderr in the CLI); may be empty.
  std::function<void(const std::string&)> progress;

  /// The defaults above with messages 1 KiB, 4 KiB, ..., 64 MiB.
  [[nodiscard]] static CalibrationGrid full();
  /// A small grid for CI and a first look: blocks {128, 512}, 3 repetitions, messages 4 KiB .. 4 MiB,
  /// stream rows {512, 4096}.
  [[nodiscard]] static CalibrationGrid quick();
};

/// Times every point of `grid` on `backend` (a fresh backend: this allocates its own schedules), in
/// this order: attention blocks (full, then causal-diagonal; by head dim, q_len, kv_len), then a merge
/// and a copy per stream size, then a transfer per message size. Throws Error on a grid it cannot
/// time (no repetitions, a message size not a multiple of 4, ...) or a kernel that fails or hangs.
[[nodiscard]] trace::OpTimings time_calibration_ops(Backend& backend, const CalibrationGrid& grid);

}  // namespace ringlab::runtime
