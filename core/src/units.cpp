#include "ringlab/core/units.hpp"

#include <fmt/core.h>

namespace ringlab {

std::string exact_size(Bytes b) {
  constexpr std::int64_t kKiB = 1024;
  constexpr std::int64_t kMiB = kKiB * kKiB;
  const auto v = b.value;
  if (v >= kMiB && v % kMiB == 0) return fmt::format("{} MiB", v / kMiB);
  if (v >= kKiB && v % kKiB == 0) return fmt::format("{} KiB", v / kKiB);
  return fmt::format("{} B", v);
}

}  // namespace ringlab
