#include "format.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>

namespace ringlab::app {

std::string human_bytes(Bytes b) {
  constexpr std::array<const char*, 6> units{"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  auto v = static_cast<double>(b.value);
  std::size_t u = 0;
  while (std::fabs(v) >= 1024.0 && u + 1 < units.size()) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b.value) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_flops(Flops f) {
  constexpr std::array<const char*, 7> units{"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"};
  auto v = static_cast<double>(f.value);
  std::size_t u = 0;
  while (std::fabs(v) >= 1000.0 && u + 1 < units.size()) {
    v /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} FLOP", f.value) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_time(Time t) {
  const double s = to_seconds(t);
  const double a = std::fabs(s);
  if (a >= 1.0) return fmt::format("{:.3f} s", s);
  if (a >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  if (a >= 1e-6) return fmt::format("{:.3f} us", s * 1e6);
  return fmt::format("{:.0f} ns", s * 1e9);
}

}  // namespace ringlab::app
