#pragma once
// Placement: which GPU each rank of a schedule runs on.
#include <string>
#include <vector>

#include "ringlab/ir/experiment.hpp"
#include "ringlab/topology/cluster.hpp"

namespace ringlab::topology {

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
[[nodiscard]] std::vector<int> place(const Cluster& cluster, const ir::PlacementSpec& spec, int ranks,
                                     const PlacementSource& where = {});

}  // namespace ringlab::topology
