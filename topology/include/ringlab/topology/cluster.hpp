#pragma once
// A modelled cluster: GPUs, switches, NICs and CPUs joined by full-duplex links, plus routing between
// GPUs. The Boost.Graph adjacency_list lives behind a pimpl, so including this header costs no Boost.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/topology/kinds.hpp"
#include "ringlab/topology/route.hpp"

namespace ringlab::topology {

/// Dense index of a vertex (0..vertex_count()-1), in the order vertices were added.
using VertexId = std::uint32_t;

/// What one vertex of the cluster graph is (the graph's bundled vertex property).
struct VertexInfo {
  std::string name;                    ///< unique name ("n0.gpu3", "leaf2", ...)
  DeviceKind kind = DeviceKind::GPU;   ///< what it is
  int gpu = -1;                        ///< dense GPU index for GPUs, -1 otherwise
  int node = -1;                       ///< node index for GPUs, -1 otherwise
  bool p2p = true;                     ///< GPUs only: false = peer traffic must bounce through a CPU
  Bandwidth port_bandwidth{0};         ///< NICs only: port rate per direction (0 = sum of its network links)
};

/// One direction of one link, as the simulator and the summary see it.
struct LinkInfo {
  LinkId id = 0;                      ///< dense directed id: 2*edge (a->b) or 2*edge+1 (b->a)
  LinkKind kind = LinkKind::NVLink;   ///< what it is made of
  Bandwidth bandwidth{0};             ///< capacity in this direction
  Time latency{0};                    ///< one-way latency
  VertexId from = 0;                  ///< vertex it leaves
  VertexId to = 0;                    ///< vertex it enters
  std::string_view from_name;         ///< name of `from` (valid while the Cluster lives)
  std::string_view to_name;           ///< name of `to` (valid while the Cluster lives)
};

/// A built, validated cluster (every GPU can reach every other). Move-only; route() is thread-safe.
class Cluster {
 public:
  struct Impl;  ///< internal (topology/src/cluster_impl.hpp)

  ~Cluster();                              ///< frees the graph and route cache
  Cluster(Cluster&&) noexcept;             ///< moves the graph and route cache
  Cluster& operator=(Cluster&&) noexcept;  ///< moves the graph and route cache
  Cluster(const Cluster&) = delete;             ///< move-only (the route cache is large)
  Cluster& operator=(const Cluster&) = delete;  ///< move-only

  [[nodiscard]] const std::string& name() const noexcept;         ///< name from the file (or its stem)
  [[nodiscard]] const std::string& source_file() const noexcept;  ///< file it was loaded from ("" if built in code)
  /// Absolute path of the device spec (the file's `device:` key, resolved against the file's folder).
  [[nodiscard]] const std::string& device_spec() const noexcept;
  /// Line of the `device:` key in source_file() (0 if unknown), for errors about the device file.
  [[nodiscard]] int device_spec_line() const noexcept;

  [[nodiscard]] int gpu_count() const noexcept;   ///< number of GPUs N (dense indices 0..N-1)
  [[nodiscard]] int node_count() const noexcept;  ///< number of nodes M (dense indices 0..M-1)
  [[nodiscard]] int node_of(int gpu) const;       ///< node of a GPU (std::out_of_range if no such GPU)
  [[nodiscard]] std::span<const int> gpus_of_node(int node) const;  ///< GPUs of a node, ascending
  [[nodiscard]] VertexId gpu_vertex(int gpu) const;  ///< vertex of a GPU (std::out_of_range if none)

  [[nodiscard]] std::size_t vertex_count() const noexcept;          ///< number of vertices
  [[nodiscard]] const VertexInfo& vertex(VertexId v) const;         ///< a vertex (std::out_of_range)
  [[nodiscard]] const std::string& vertex_name(VertexId v) const;   ///< a vertex's name
  [[nodiscard]] std::optional<VertexId> find_vertex(std::string_view name) const;  ///< by name

  [[nodiscard]] std::size_t edge_count() const noexcept;   ///< full-duplex links (cables)
  [[nodiscard]] std::size_t link_count() const noexcept;   ///< directed links = 2 * edge_count()
  [[nodiscard]] LinkInfo link(LinkId id) const;            ///< one directed link (std::out_of_range)

  /// The links a transfer from GPU `a` to GPU `b` crosses: least total latency first, then the
  /// widest bottleneck; ties (ECMP) broken by a hash of (a, b), so the same pair always gets the same
  /// path and different pairs spread over equal paths. Cached per source. std::out_of_range on a bad
  /// index; empty when a == b.
  [[nodiscard]] Route route(int a, int b) const;

  [[nodiscard]] const Impl& impl() const noexcept { return *impl_; }  ///< internal: the graph

 private:
  friend class ClusterBuilder;
  explicit Cluster(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// Builds a Cluster in code (the YAML loader uses it; so can tests of other layers). Programming
/// errors (duplicate names, bad ids, a GPU that cannot reach another) throw ringlab::Error.
class ClusterBuilder {
 public:
  ClusterBuilder();   ///< an empty cluster
  ~ClusterBuilder();  ///< discards what was not built
  ClusterBuilder(ClusterBuilder&&) noexcept;             ///< movable
  ClusterBuilder& operator=(ClusterBuilder&&) noexcept;  ///< movable
  ClusterBuilder(const ClusterBuilder&) = delete;             ///< move-only
  ClusterBuilder& operator=(const ClusterBuilder&) = delete;  ///< move-only

  /// Adds a vertex; GPUs get the next dense GPU index. `node` is for GPUs only: give it for every GPU
  /// or for none (then nodes are the GPUs' host-side connected components).
  VertexId add_vertex(std::string name, DeviceKind kind, int node = -1);
  /// GPUs only: false means traffic to or from it must cross a CPU (PCIe peer-to-peer disabled).
  void set_p2p(VertexId gpu, bool p2p);
  /// NICs only: the port rate used for the injection summary and by fabric templates.
  void set_port_bandwidth(VertexId nic, Bandwidth bw);
  /// Adds a full-duplex link and returns its edge index e (directed ids 2e: a->b, 2e+1: b->a).
  /// Bandwidths must be > 0, latency > 0. A network switch links only to NICs and switches.
  std::uint32_t add_link(VertexId a, VertexId b, LinkKind kind, Bandwidth a_to_b, Bandwidth b_to_a, Time latency);
  /// Adds a full-duplex link with the same bandwidth both ways.
  std::uint32_t add_link(VertexId a, VertexId b, LinkKind kind, Bandwidth bw, Time latency) {
    return add_link(a, b, kind, bw, bw, latency);
  }
  void set_name(std::string name);                          ///< the cluster's name
  void set_source(std::string file);                        ///< file it came from
  void set_device_spec(std::string absolute_path, int line);  ///< resolved `device:` path and its line

  [[nodiscard]] std::size_t vertex_count() const noexcept;  ///< vertices so far
  [[nodiscard]] int gpu_count() const noexcept;             ///< GPUs so far
  [[nodiscard]] const std::string& gpu_name(int gpu) const;  ///< name of a GPU added so far
  [[nodiscard]] std::optional<VertexId> find_vertex(std::string_view name) const;  ///< by name
  /// A pair (a, b) of GPU indices where a has no route to b under the routing rules, if any.
  [[nodiscard]] std::optional<std::pair<int, int>> unreachable_pair() const;
  /// Validates (at least one GPU, all pairs reachable, node indices dense) and builds.
  [[nodiscard]] Cluster build();

 private:
  void invalidate() noexcept;  // drops the cached reachability check after a change
  std::unique_ptr<Cluster::Impl> impl_;
  mutable bool checked_ = false;                            // unreachable_ is current
  mutable std::optional<std::pair<int, int>> unreachable_;  // result of the last check
};

}  // namespace ringlab::topology
