#pragma once
// Element offsets of the token-major buffer layouts (docs/ir.md), shared by every backend so no
// kernel computes an index its own way. Counts are elements, not bytes.
#include <cstdint>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::ir::layout {

/// Element of q/out/partial_out/grad_out/grad_q `[t][B][H][d]`: token row t, batch b, head h, dim x.
[[nodiscard]] constexpr std::int64_t qo(const Workload& w, std::int64_t t, std::int64_t b, std::int64_t h,
                                        std::int64_t x) noexcept {
  return ((t * w.batch + b) * w.q_heads + h) * w.head_dim + x;
}
/// Element of kv/grad_kv `[t][B][2][G][d]`: part 0 is K, part 1 is V.
[[nodiscard]] constexpr std::int64_t kv(const Workload& w, std::int64_t t, std::int64_t b, int part, std::int64_t g,
                                        std::int64_t x) noexcept {
  return (((t * w.batch + b) * 2 + part) * w.kv_heads + g) * w.head_dim + x;
}
/// Element of lse/partial_lse `[t][B][H]` (fp32).
[[nodiscard]] constexpr std::int64_t lse(const Workload& w, std::int64_t t, std::int64_t b, std::int64_t h) noexcept {
  return (t * w.batch + b) * w.q_heads + h;
}

}  // namespace ringlab::ir::layout
