#include "ringlab/models/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ringlab/core/error.hpp"

namespace ringlab::models {

void ModelRegistry::add_compute(std::string name, ComputeFactory make) {
  if (compute_.count(name) != 0) throw Error(fmt::format("compute model '{}' is registered twice", name));
  compute_.emplace(std::move(name), make);
}

std::unique_ptr<ComputeModel> ModelRegistry::make_compute(std::string_view name, DeviceSpec device) const {
  const auto it = compute_.find(name);
  if (it == compute_.end()) {
    throw Error(fmt::format("unknown compute model '{}' (known: {})", name, fmt::join(compute_names(), ", ")));
  }
  return it->second(std::move(device));
}

bool ModelRegistry::has_compute(std::string_view name) const { return compute_.find(name) != compute_.end(); }

std::vector<std::string> ModelRegistry::compute_names() const {
  std::vector<std::string> names;
  for (const auto& [name, make] : compute_) names.push_back(name);
  return names;
}

void register_builtin_models(ModelRegistry& registry) {
  registry.add_compute("parametric", [](DeviceSpec d) -> std::unique_ptr<ComputeModel> {
    return std::make_unique<ParametricComputeModel>(std::move(d));
  });
  registry.add_compute("table", [](DeviceSpec d) -> std::unique_ptr<ComputeModel> {
    return std::make_unique<TableComputeModel>(std::move(d));
  });
}

std::unique_ptr<ComputeModel> make_compute_model(std::string_view name, DeviceSpec device) {
  ModelRegistry registry;
  register_builtin_models(registry);
  return registry.make_compute(name, std::move(device));
}

}  // namespace ringlab::models
