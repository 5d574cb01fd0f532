#pragma once
// Shared helpers for the topology tests.
#include <string>
#include <vector>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/topology/cluster.hpp"
#include "ringlab/topology/load.hpp"

namespace topo_test {

inline std::string config(const std::string& name) {
  return std::string(RINGLAB_SOURCE_DIR) + "/configs/topologies/" + name;
}

/// Loads a topology from text; `label` is the file name errors show.
inline ringlab::topology::Cluster parse(const std::string& text, const std::string& label = "t.yaml") {
  return ringlab::topology::load_topology(ringlab::YamlDocument::parse(text, label));
}

/// The InputError message `fn` throws, or "no error".
inline std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const ringlab::InputError& e) {
    return e.what();
  }
  return "no error";
}

/// Vertex names along a route, source GPU first.
inline std::vector<std::string> path_names(const ringlab::topology::Cluster& c, int a, int b) {
  const auto r = c.route(a, b);
  std::vector<std::string> out{c.vertex_name(c.gpu_vertex(a))};
  for (const auto& h : r.hops) out.emplace_back(c.link(h.link).to_name);
  return out;
}

/// Link kinds along a route, as their YAML names.
inline std::vector<std::string> path_kinds(const ringlab::topology::Cluster& c, int a, int b) {
  std::vector<std::string> out;
  for (const auto& h : c.route(a, b).hops) out.emplace_back(ringlab::topology::to_string(h.kind));
  return out;
}

}  // namespace topo_test
