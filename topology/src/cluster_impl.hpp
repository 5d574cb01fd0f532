#pragma once
// Internal: the Boost.Graph behind Cluster, shared by the topology layer's .cpp files only.
#include <boost/graph/adjacency_list.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ringlab/topology/cluster.hpp"

namespace ringlab::topology::detail {

/// Bundled edge property: one full-duplex link between `a` and `b`.
struct EdgeProps {
  std::uint32_t index = 0;            // edge index e (directed ids 2e: a->b, 2e+1: b->a)
  VertexId a = 0;                     // first endpoint as added
  VertexId b = 0;                     // second endpoint as added
  LinkKind kind = LinkKind::NVLink;
  Bandwidth a_to_b{0};
  Bandwidth b_to_a{0};
  Time latency{0};
};

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexInfo, EdgeProps>;
using Edge = Graph::edge_descriptor;

class Router;  // routing.cpp

[[nodiscard]] inline bool is_host(DeviceKind k) noexcept {
  return k == DeviceKind::NVSwitch || k == DeviceKind::PCIeSwitch || k == DeviceKind::CPU;
}

/// The directed link id for crossing edge `p` from vertex `from`.
[[nodiscard]] inline LinkId directed_id(const EdgeProps& p, VertexId from) noexcept {
  return 2 * p.index + (from == p.a ? 0U : 1U);
}
/// Capacity of edge `p` crossed from vertex `from`.
[[nodiscard]] inline Bandwidth directed_bandwidth(const EdgeProps& p, VertexId from) noexcept {
  return from == p.a ? p.a_to_b : p.b_to_a;
}

struct RouterDeleter {
  void operator()(Router* r) const noexcept;
};
using RouterPtr = std::unique_ptr<Router, RouterDeleter>;

/// Builds the routing state machine over `g` (it copies what it needs; `g` may go away).
[[nodiscard]] RouterPtr make_router(const Graph& g, const std::vector<VertexId>& gpu_vertex);
/// (a, b) with no route from GPU a to GPU b, if any (a full search from every GPU).
[[nodiscard]] bool find_unreachable(const Router& r, int& a, int& b);
/// Route from GPU a to GPU b (cached per source); the caller holds the cluster's route mutex.
[[nodiscard]] Route route_of(Router& r, int a, int b);

/// Why a vertex name is unacceptable ("" if it is fine): names are [A-Za-z0-9_.:/-]+.
[[nodiscard]] std::string name_problem(std::string_view name);
/// Why a link between `a` and `b` of `kind` is unacceptable ("" if it is fine).
[[nodiscard]] std::string link_problem(const VertexInfo& a, const VertexInfo& b, LinkKind kind);

}  // namespace ringlab::topology::detail

namespace ringlab::topology {

struct Cluster::Impl {
  detail::Graph graph;
  std::vector<detail::Edge> edges;                  // by edge index
  std::vector<VertexId> gpu_vertex;                 // by GPU index
  std::vector<std::vector<int>> node_gpus;          // by node index
  std::unordered_map<std::string, VertexId> by_name;
  std::string name;
  std::string source_file;
  std::string device_spec;
  int device_spec_line = 0;

  mutable std::mutex route_mutex;  // guards router (lazy per-source cache)
  mutable detail::RouterPtr router;

  [[nodiscard]] const detail::EdgeProps& edge(std::size_t e) const { return graph[edges.at(e)]; }
};

}  // namespace ringlab::topology
