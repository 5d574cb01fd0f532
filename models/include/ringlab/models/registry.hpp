#pragma once
// Models chosen by name: a small registry filled by an explicit call (no static constructors).
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringlab/models/compute.hpp"
#include "ringlab/models/device.hpp"

namespace ringlab::models {

/// Name -> factory of compute models.
class ModelRegistry {
 public:
  /// Builds a compute model of a device.
  using ComputeFactory = std::unique_ptr<ComputeModel> (*)(DeviceSpec device);

  ModelRegistry() = default;
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  /// Registers `make` under `name`; throws Error if the name is taken.
  void add_compute(std::string name, ComputeFactory make);
  /// Builds the compute model called `name`; throws Error listing the known names if there is none.
  [[nodiscard]] std::unique_ptr<ComputeModel> make_compute(std::string_view name, DeviceSpec device) const;
  /// Whether a compute model called `name` is registered.
  [[nodiscard]] bool has_compute(std::string_view name) const;
  /// Registered compute model names, sorted.
  [[nodiscard]] std::vector<std::string> compute_names() const;

 private:
  std::map<std::string, ComputeFactory, std::less<>> compute_;
};

/// Registers the built-in compute models: "parametric" and "table".
void register_builtin_models(ModelRegistry& registry);

/// Builds a built-in compute model by name ("parametric" or "table"); throws Error for other names.
[[nodiscard]] std::unique_ptr<ComputeModel> make_compute_model(std::string_view name, DeviceSpec device);

}  // namespace ringlab::models
