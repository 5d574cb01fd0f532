#pragma once
// Placement: which GPU each rank of a schedule runs on.
#include <cstdint>
#include <string>
#include <vector>

#include "ringlab/topology/cluster.hpp"

namespace ringlab::topology {

/// How ranks map to GPUs (an experiment's `placement`, which ir::PlacementSpec parses: topology does
/// not depend on the IR, see DESIGN.md's layers).
struct Placement {
  enum class Kind : std::uint8_t { block, round_robin, list, shared };
  Kind kind = Kind::block;         ///< block: rank r on GPU r; round_robin: across nodes; list: explicit;
                                   ///< shared: every rank on GPU 0 (one GPU carrying all ranks)
  std::vector<std::int32_t> gpus;  ///< with list: GPU index of each rank
};

/// Where a placement came from, so errors read "FILE:LINE: field 'placement...': ...".
struct PlacementSource {
  std::string file;                 ///< the experiment file
  int line = 0;                     ///< line of its `placement` key (0 if unknown)
  std::string field = "placement";  ///< dotted field of the placement
};

/// Rank -> GPU map for `ranks` ranks: block puts rank r on GPU r; round_robin deals ranks over nodes
/// (rank r on node r % nodes while every node has free GPUs, lowest free GPU of that node first);
/// list takes spec.gpus as given. Throws InputError (at `where`) when ranks < 1, ranks > GPUs, or the
/// list has the wrong length, an index out of range or a GPU used twice.
[[nodiscard]] std::vector<int> place(const Cluster& cluster, const Placement& spec, int ranks,
                                     const PlacementSource& where = {});

}  // namespace ringlab::topology
