#pragma once
// Human-readable figures for the CLI's tables.
#include <string>

#include "ringlab/core/units.hpp"

namespace ringlab::app {

/// 1.50 GiB, 512.0 KiB, 12 B.
[[nodiscard]] std::string human_bytes(Bytes b);
/// 1.23 PFLOP, 4.56 TFLOP, ...
[[nodiscard]] std::string human_flops(Flops f);
/// 1.234 s, 12.3 ms, 45.6 us, 789 ns.
[[nodiscard]] std::string human_time(Time t);

}  // namespace ringlab::app
