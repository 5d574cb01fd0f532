#pragma once
// What `ringlab topology FILE` prints, and the figures behind it.
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>

#include "ringlab/core/units.hpp"
#include "ringlab/topology/cluster.hpp"

namespace ringlab::topology {

/// Per-GPU injection bandwidth, per direction.
struct Injection {
  Bandwidth nvlink{0};   ///< sum of the GPU's own NVLink links
  Bandwidth host{0};     ///< sum of the GPU's own PCIe and C2C links
  /// Fair share of the NICs the GPU can reach without crossing the network: each NIC's port rate
  /// (or its network links' sum) divided by the number of GPUs that can reach it.
  Bandwidth network{0};
};

/// Injection bandwidth of one GPU (std::out_of_range for a bad index).
[[nodiscard]] Injection injection_bandwidth(const Cluster& cluster, int gpu);

/// Bisection figure and the split it was computed for.
struct Bisection {
  Bandwidth bandwidth{0};  ///< max flow, per direction, from side A to side B
  int a_first = 0;         ///< side A is GPUs [a_first, b_first)
  int b_first = 0;         ///< side B is GPUs [b_first, gpu_count)
};

/// Max-flow (push-relabel over per-direction capacities) from GPUs [0, N/2) to GPUs [N/2, N), where
/// GPUs are sources or sinks only (never transit) and a NIC is crossed host->network or
/// network->host only. GPUs are numbered node-major, so for the bundled regular templates this split
/// is the node-halves cut and equals the classic bisection; in general it is an upper bound on the
/// minimum over all balanced splits. Zero with fewer than 2 GPUs.
[[nodiscard]] Bisection bisection_bandwidth(const Cluster& cluster);

/// The text `ringlab topology FILE [--path A,B]` prints; with `pair` it adds that route hop by hop.
[[nodiscard]] std::string summary_text(const Cluster& cluster, std::optional<std::pair<int, int>> pair = std::nullopt);

/// Graphviz DOT of the cluster (boost::write_graphviz): boxes for GPUs, edges labelled kind/bandwidth.
void write_dot(const Cluster& cluster, std::ostream& out);

}  // namespace ringlab::topology
