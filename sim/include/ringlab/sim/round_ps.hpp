#pragma once
// std::round for the simulator's picosecond times without a libm call (x86-64 without SSE4.1 has no
// rounding instruction, so GCC calls round() out of line: ~1% of a ring's instructions).
#include <cmath>
#include <cstdint>

namespace ringlab::sim {

/// Exactly std::round(x): for 0 <= x < 2^53, the truncation and its fractional part are exact, so
/// rounding half away from zero is one comparison; anything else (negative, huge, inf, NaN) goes to
/// std::round itself.
[[nodiscard]] inline double round_ps(double x) noexcept {
  if (!(x >= 0.0 && x < 0x1p53)) return std::round(x);
  const auto t = static_cast<std::int64_t>(x);
  return static_cast<double>(t + (x - static_cast<double>(t) >= 0.5 ? 1 : 0));
}

}  // namespace ringlab::sim
