#pragma once
// Statistics shared by the layer that times things (runtime's calibration runs) and the one that fits
// models to the timings (report).
#include <vector>

namespace ringlab {

/// The median of `values` (mean of the two middle ones for an even count); throws Error if empty.
[[nodiscard]] double median(std::vector<double> values);

}  // namespace ringlab
