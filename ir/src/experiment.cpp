#include "ringlab/ir/experiment.hpp"

#include <fmt/format.h>

#include <array>
#include <filesystem>

#include "fields.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"

namespace ringlab::ir {

namespace {

template <class E>
E read_enum(const YamlNode& n) {
  return static_cast<E>(n.as_choice(detail::EnumNames<E>::names));
}

Workload read_workload(const YamlNode& n) {
  n.check_keys({"batch", "seq_len", "q_heads", "kv_heads", "head_dim", "dtype", "causal", "pass", "window",
                "dilation"});
  constexpr std::int64_t kMax = std::int64_t{1} << 40;
  Workload w;
  w.batch = n.at("batch").as_int(1, 1 << 20);
  w.seq_len = n.at("seq_len").as_int(1, kMax);
  w.q_heads = n.at("q_heads").as_int(1, 1 << 16);
  w.kv_heads = n.at("kv_heads").as_int(1, 1 << 16);
  w.head_dim = n.at("head_dim").as_int(1, 1 << 16);
  w.dtype = read_enum<DType>(n.at("dtype"));
  w.causal = n.at("causal").as_bool();
  w.pass = read_enum<Pass>(n.at("pass"));
  if (auto x = n.find("window")) w.window = x->as_int(0, kMax);
  if (auto x = n.find("dilation")) w.dilation = x->as_int(1, 1 << 20);
  return w;
}

ScheduleSpec read_spec(const YamlNode& n) {
  n.check_keys({"variant", "ranks", "options"});
  ScheduleSpec spec;
  spec.variant = n.at("variant").as_string();
  spec.ranks = static_cast<std::int32_t>(n.at("ranks").as_int(1, 1 << 20));
  if (auto opts = n.find("options")) {
    for (const auto& key : opts->keys()) spec.options[key] = opts->at(key).as_string();
  }
  return spec;
}

PlacementSpec read_placement(const YamlNode& n) {
  PlacementSpec p;
  if (n.is_sequence()) {
    p.kind = PlacementSpec::Kind::list;
    for (std::size_t i = 0; i < n.size(); ++i) p.gpus.push_back(static_cast<std::int32_t>(n[i].as_int(0, 1 << 24)));
    return p;
  }
  constexpr std::array<std::string_view, 3> names{"block", "round_robin", "shared"};
  constexpr std::array<PlacementSpec::Kind, 3> kinds{PlacementSpec::Kind::block, PlacementSpec::Kind::round_robin,
                                                     PlacementSpec::Kind::shared};
  p.kind = kinds[n.as_choice(names)];
  return p;
}

/// The node a check_spec field name refers to (for its line), or the closest existing parent.
YamlNode node_of(const YamlNode& root, const std::string& field) {
  YamlNode cur = root;
  std::size_t start = 0;
  while (start <= field.size()) {
    const auto dot = field.find('.', start);
    const auto key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto child = cur.find(key);
    if (!child) return cur;
    cur = *child;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

}  // namespace

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  auto doc = YamlDocument::load_file(path);
  for (const auto& o : overrides) doc.apply_override(o);
  const auto root = doc.root();
  if (!root.is_map()) root.fail("an experiment file must be a mapping");
  root.check_keys({"name", "description", "topology", "device_profile", "workload", "schedule", "placement"});
  Experiment e;
  e.file = path;
  e.name = root.at("name").as_string();
  if (auto d = root.find("description")) (void)d->as_string();
  const auto topo = root.at("topology");
  // A path written in the file is relative to the file; one given with --set, to where the command
  // runs (as `calibrate` prints it, and as a shell completes it).
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  auto resolve = [&](const YamlNode& n) {
    const std::filesystem::path p(n.as_string());
    return (n.overridden() ? p : base / p).lexically_normal().string();
  };
  e.topology = resolve(topo);
  if (!std::filesystem::exists(e.topology)) topo.fail(fmt::format("topology file '{}' does not exist", e.topology));
  if (auto prof = root.find("device_profile")) {
    e.device_profile = resolve(*prof);
    if (!std::filesystem::exists(e.device_profile))
      prof->fail(fmt::format("device profile '{}' does not exist", e.device_profile));
  }
  e.workload = read_workload(root.at("workload"));
  e.schedule = read_spec(root.at("schedule"));
  e.placement = read_placement(root.at("placement"));
  for (const auto& key : root.keys()) e.field_lines[key] = root.at(key).line();
  for (const char* section : {"workload", "schedule"}) {
    const auto node = root.at(section);
    for (const auto& key : node.keys()) e.field_lines[fmt::format("{}.{}", section, key)] = node.at(key).line();
  }
  std::string field;
  if (auto why = check_spec(e.workload, e.schedule, field); !why.empty()) {
    // Name the override when the offending value came from --set, else the file and line.
    node_of(root, field).fail(why);
  }
  return e;
}

bool looks_like_experiment(const std::string& path) {
  const auto doc = YamlDocument::load_file(path);
  const auto root = doc.root();
  return root.is_map() && root.has("workload") && root.has("schedule") && !root.has("ranks");
}

}  // namespace ringlab::ir
