// ringlab topology FILE [--path A,B] [--dot OUT.dot]: summary of a cluster, one route, a DOT drawing.
#include <fmt/core.h>

#include <charconv>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "commands.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/topology/load.hpp"
#include "ringlab/topology/summary.hpp"

namespace ringlab::app {

namespace {

// One end of --path: a GPU index ("8") or a GPU vertex name ("n1.gpu0").
int parse_gpu(const topology::Cluster& c, const std::string& text, const std::string& arg) {
  int v = -1;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && ptr == text.data() + text.size()) {
    if (v < 0 || v >= c.gpu_count()) {
      throw InputError("--path", 0, 0, arg, fmt::format("GPU {} does not exist (the topology has GPUs 0..{})", v, c.gpu_count() - 1));
    }
    return v;
  }
  if (const auto id = c.find_vertex(text); id && c.vertex(*id).kind == topology::DeviceKind::GPU) return c.vertex(*id).gpu;
  throw InputError("--path", 0, 0, arg, fmt::format("'{}' is neither a GPU index nor the name of a GPU", text));
}

}  // namespace

void add_topology_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("topology", "Summarise a topology file: GPUs, links, injection and bisection bandwidth");
  struct Options {
    std::string file;
    std::string path;
    std::string dot;
  };
  auto opts = std::make_shared<Options>();
  cmd->add_option("FILE", opts->file, "topology YAML (configs/topologies/...)")->required();
  cmd->add_option("--path", opts->path, "also print the route from GPU A to GPU B (indices or names), e.g. 0,8");
  cmd->add_option("--dot", opts->dot, "write the cluster graph as Graphviz DOT to this file");
  cmd->callback([opts, &exit_code] {
    const auto cluster = topology::load_topology(opts->file);
    // The device file it names must load too: `simulate` reads it, the summary alone would not.
    (void)models::load_cluster_device(cluster);
    std::optional<std::pair<int, int>> pair;
    if (!opts->path.empty()) {
      const auto comma = opts->path.find(',');
      if (comma == std::string::npos || opts->path.find(',', comma + 1) != std::string::npos) {
        throw InputError("--path", 0, 0, opts->path, "expected two GPUs separated by a comma, e.g. --path 0,8");
      }
      pair = std::make_pair(parse_gpu(cluster, opts->path.substr(0, comma), opts->path),
                            parse_gpu(cluster, opts->path.substr(comma + 1), opts->path));
    }
    fmt::print("{}", topology::summary_text(cluster, pair));
    if (!opts->dot.empty()) {
      std::ostringstream dot;
      topology::write_dot(cluster, dot);
      write_file_atomic(opts->dot, dot.str());
      fmt::print("{:<11} {}\n", "dot", opts->dot);
    }
    exit_code = 0;
  });
}

}  // namespace ringlab::app
