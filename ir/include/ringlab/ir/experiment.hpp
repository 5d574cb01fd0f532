#pragma once
// The experiment file users write: topology, workload, schedule variant, placement.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/schedule.hpp"

namespace ringlab::ir {

/// How ranks map to GPUs (the topology layer turns this into a rank -> GPU map).
struct PlacementSpec {
  enum class Kind : std::uint8_t { block, round_robin, list, shared };
  Kind kind = Kind::block;        ///< block: rank r on GPU r; round_robin: across nodes; list: explicit;
                                  ///< shared: every rank on GPU 0 (one GPU carrying all ranks)
  std::vector<std::int32_t> gpus;  ///< with list: GPU index of each rank
  friend bool operator==(const PlacementSpec&, const PlacementSpec&) = default;
};

/// A parsed, checked experiment file.
struct Experiment {
  std::string file;            ///< the file it came from
  std::string name;            ///< its name
  std::string topology;        ///< topology file, resolved against the experiment's folder ("" if none)
  std::string device_profile;  ///< optional device profile (e.g. from `ringlab calibrate`) replacing the
                               ///< topology's device spec, resolved against the experiment's folder ("" if none)
  Workload workload;           ///< the attention
  ScheduleSpec schedule;       ///< the variant, ranks and options
  PlacementSpec placement;     ///< ranks onto GPUs
  std::map<std::string, int> field_lines;  ///< line of every top-level, workload.* and schedule.* field
  /// Line of a dotted field ("workload.seq_len"), 0 if unknown (e.g. absent, or set by --set).
  [[nodiscard]] int line_of(const std::string& field) const {
    const auto it = field_lines.find(field);
    return it == field_lines.end() ? 0 : it->second;
  }
};

/// Loads `path`, applies `overrides` ("dotted.key=value", in order), checks every field (unknown keys,
/// wrong types, impossible values) and throws InputError naming file, line and field.
[[nodiscard]] Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});

/// Whether a parsed YAML/JSON document looks like an experiment (has `workload` and `schedule`) rather
/// than a schedule IR file (has `ranks`).
[[nodiscard]] bool looks_like_experiment(const std::string& path);

}  // namespace ringlab::ir
