// Rank -> GPU maps.
#include "ringlab/topology/placement.hpp"

#include <fmt/format.h>

#include "ringlab/core/error.hpp"

namespace ringlab::topology {

std::vector<int> place(const Cluster& cluster, const Placement& spec, int ranks, const PlacementSource& where) {
  const auto fail = [&](const std::string& field, const std::string& message) {
    throw InputError(where.file, where.line, 0, field, message);
  };
  const int gpus = cluster.gpu_count();
  if (ranks < 1) fail(where.field, fmt::format("need at least 1 rank, got {}", ranks));
  if (spec.kind == Placement::Kind::shared) {
    // One GPU carries every rank (the CUDA backend's single_gpu mode): they share its SMs and HBM.
    return std::vector<int>(static_cast<std::size_t>(ranks), 0);
  }
  if (ranks > gpus) {
    fail(where.field, fmt::format("{} ranks do not fit on the {} GPUs of topology '{}'", ranks, gpus, cluster.name()));
  }
  std::vector<int> out;
  out.reserve(static_cast<std::size_t>(ranks));
  switch (spec.kind) {
    case Placement::Kind::shared:  // handled above
    case Placement::Kind::block:
      for (int r = 0; r < ranks; ++r) out.push_back(r);
      break;
    case Placement::Kind::round_robin: {
      // Deal ranks over nodes in turn, each node handing out its GPUs in ascending order; a node that
      // runs out is skipped (with equal nodes: rank r on node r % nodes, local GPU r / nodes).
      const int nodes = cluster.node_count();
      for (int round = 0; static_cast<int>(out.size()) < ranks; ++round) {
        for (int n = 0; n < nodes && static_cast<int>(out.size()) < ranks; ++n) {
          const auto local = cluster.gpus_of_node(n);
          if (round < static_cast<int>(local.size())) out.push_back(local[static_cast<std::size_t>(round)]);
        }
      }
      break;
    }
    case Placement::Kind::list: {
      const std::string field = where.field + ".gpus";
      if (static_cast<int>(spec.gpus.size()) != ranks) {
        fail(field, fmt::format("lists {} GPUs for {} ranks (one GPU per rank)", spec.gpus.size(), ranks));
      }
      std::vector<int> owner(static_cast<std::size_t>(gpus), -1);
      for (std::size_t r = 0; r < spec.gpus.size(); ++r) {
        const int g = spec.gpus[r];
        const std::string item = fmt::format("{}[{}]", field, r);
        if (g < 0 || g >= gpus) fail(item, fmt::format("GPU {} does not exist (the topology has GPUs 0..{})", g, gpus - 1));
        auto& o = owner[static_cast<std::size_t>(g)];
        if (o >= 0) fail(item, fmt::format("GPU {} is already used by rank {}", g, o));
        o = static_cast<int>(r);
        out.push_back(g);
      }
      break;
    }
  }
  return out;
}

}  // namespace ringlab::topology
