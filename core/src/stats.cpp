#include "ringlab/core/stats.hpp"

#include <algorithm>

#include "ringlab/core/error.hpp"

namespace ringlab {

double median(std::vector<double> values) {
  if (values.empty()) throw Error("median of no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace ringlab
