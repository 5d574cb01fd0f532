#pragma once
// Helpers of the GPU tests: skip without a GPU, fresh seeds, dtype rounding, the token-major
// (docs/ir.md) loading and checking of a schedule's buffers on any Backend.
#include <cstdint>
#include <string>
#include <vector>

#include "ringlab/ir/schedule.hpp"
#include "ringlab/runtime/executor.hpp"
#include "ringlab/runtime/numerics.hpp"

namespace ringlab::test {

/// True (after printing why) when no CUDA device is visible: the caller returns, the test passes.
[[nodiscard]] bool skip_without_gpu();
/// A fresh seed per call (clock and a counter), printed so a failure can be replayed.
[[nodiscard]] std::uint64_t fresh_seed(const char* what);
/// x rounded to the nearest dtype value (round-to-nearest-even of the mantissa; fp32 unchanged).
[[nodiscard]] float round_to(ir::DType t, float x);
/// Rounds every value to the dtype.
void round_all(ir::DType t, std::vector<float>& v);
/// Relative tolerance of an attention output in dtype (against max |reference|).
[[nodiscard]] double tolerance(ir::DType t, int merges = 1);

/// Writes each rank's owned q rows and K,V rows into its q buffers and first kv buffer in the
/// token-major layouts: q [t][B][H][d], kv [t][B][2][G][d].
void load_token_major(const ir::Schedule& s, const runtime::HostInputs& in, runtime::Backend& b);
/// Fills every out/partial_out/lse/partial_lse buffer with NaN (an unwritten element cannot pass).
void poison_outputs(const ir::Schedule& s, runtime::Backend& b);
/// Max |out - ref| / max |ref| over every rank's first out buffer (NaN counts as infinite), and the
/// max |lse - ref lse| over finite references; every token must be owned exactly once.
struct Check {
  double rel = 0;      ///< relative output error
  double lse_abs = 0;  ///< absolute lse error
  std::string worst;   ///< where the worst output error is
};
[[nodiscard]] Check check_token_major(const ir::Schedule& s, const runtime::Backend& b, const runtime::ReferenceOutput& ref);

}  // namespace ringlab::test
