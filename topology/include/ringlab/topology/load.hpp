#pragma once
// Reading topology YAML files (explicit vertices/links, or node and fabric templates); the format is
// specified in docs/topology.md. Every error is an InputError naming file, line and field.
#include <string>
#include <vector>

#include "ringlab/core/yaml.hpp"
#include "ringlab/topology/cluster.hpp"

namespace ringlab::topology {

/// Loads and validates a topology file; `device:` is resolved against the file's folder.
[[nodiscard]] Cluster load_topology(const std::string& path);
/// Same, applying "dotted.key=value" overrides (as --set does) before reading.
[[nodiscard]] Cluster load_topology(const std::string& path, const std::vector<std::string>& overrides);
/// Builds from an already parsed document; `device:` is resolved against the folder of doc.file().
[[nodiscard]] Cluster load_topology(const YamlDocument& doc);

}  // namespace ringlab::topology
