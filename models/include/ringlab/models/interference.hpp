#pragma once
// Interference between compute and communication on one GPU: while a transfer of a GPU is in flight,
// its compute ops progress `slowdown` times slower (NCCL kernels hold SMs and share HBM bandwidth).
// Rationale and defaults: docs/models.md, "Interference"; constants in configs/models/comm-nccl.yaml.
#include <span>

#include "ringlab/models/comm.hpp"
#include "ringlab/topology/route.hpp"

namespace ringlab::models {

/// Slowdown factors the simulator applies to compute while transfers of the same GPU are in flight.
class InterferenceModel {
 public:
  /// Factors from `params.compute_slowdown` and `params.local_copy_slowdown`.
  explicit InterferenceModel(const CommParams& params) noexcept;
  InterferenceModel(const InterferenceModel&) = delete;
  InterferenceModel& operator=(const InterferenceModel&) = delete;

  /// Factor (>= 1) for compute overlapping a transfer over `route` sent or received by this GPU:
  /// that of the route's transport kind, or the local-copy factor for an empty route.
  [[nodiscard]] double compute_slowdown(const topology::Route& route) const noexcept;
  /// Factor for a transfer whose transport is `kind`.
  [[nodiscard]] double compute_slowdown(topology::LinkKind kind) const noexcept;
  /// Factor for a same-GPU copy.
  [[nodiscard]] double local_copy_slowdown() const noexcept { return local_; }
  /// Factor with several transfers in flight: the largest of theirs (not the product — the comm kernels
  /// of one GPU share the same SMs and the same HBM, one more transfer does not take a second share);
  /// 1 when none is in flight.
  [[nodiscard]] static double combine(std::span<const double> factors) noexcept;

 private:
  std::array<double, 4> by_kind_;
  double local_;
};

}  // namespace ringlab::models
