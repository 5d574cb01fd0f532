#include "ringlab/models/interference.hpp"

#include <algorithm>

namespace ringlab::models {

InterferenceModel::InterferenceModel(const CommParams& params) noexcept
    : by_kind_(params.compute_slowdown), local_(params.local_copy_slowdown) {}

double InterferenceModel::compute_slowdown(const topology::Route& route) const noexcept {
  return route.hops.empty() ? local_ : compute_slowdown(transport_kind(route));
}

double InterferenceModel::compute_slowdown(topology::LinkKind kind) const noexcept {
  return by_kind_[static_cast<std::size_t>(kind)];
}

double InterferenceModel::combine(std::span<const double> factors) noexcept {
  double f = 1.0;
  for (const double x : factors) f = std::max(f, x);
  return f;
}

}  // namespace ringlab::models
