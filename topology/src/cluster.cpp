// Cluster (accessors over the Boost.Graph), ClusterBuilder (validation), kinds and Route helpers.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "cluster_impl.hpp"
#include "ringlab/core/error.hpp"

namespace ringlab::topology {

// ---- kinds.hpp / route.hpp -------------------------------------------------------------------

std::string_view to_string(DeviceKind k) noexcept {
  switch (k) {
    case DeviceKind::GPU: return "gpu";
    case DeviceKind::NVSwitch: return "nvswitch";
    case DeviceKind::PCIeSwitch: return "pcie_switch";
    case DeviceKind::CPU: return "cpu";
    case DeviceKind::NIC: return "nic";
    case DeviceKind::Switch: return "switch";
  }
  return "?";
}

std::string_view to_string(LinkKind k) noexcept {
  switch (k) {
    case LinkKind::NVLink: return "nvlink";
    case LinkKind::PCIe: return "pcie";
    case LinkKind::C2C: return "c2c";
    case LinkKind::Net: return "net";
  }
  return "?";
}

Bandwidth Route::bottleneck() const noexcept {
  if (hops.empty()) return Bandwidth(0);
  Bandwidth b = hops.front().bandwidth;
  for (const auto& h : hops) b = std::min(b, h.bandwidth);
  return b;
}

Time Route::latency() const noexcept {
  Time t(0);
  for (const auto& h : hops) t += h.latency;
  return t;
}

// ---- internal checks shared with the loader ----------------------------------------------------

namespace detail {

std::string name_problem(std::string_view name) {
  if (name.empty()) return "a vertex name cannot be empty";
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == ':' || c == '/' || c == '-';
    if (!ok) return fmt::format("vertex name '{}' may only use letters, digits and _ . : / -", name);
  }
  return "";
}

std::string link_problem(const VertexInfo& a, const VertexInfo& b, LinkKind kind) {
  const bool a_sw = a.kind == DeviceKind::Switch;
  const bool b_sw = b.kind == DeviceKind::Switch;
  const bool a_nic = a.kind == DeviceKind::NIC;
  const bool b_nic = b.kind == DeviceKind::NIC;
  if ((a_sw && !(b_sw || b_nic)) || (b_sw && !(a_sw || a_nic))) {
    return fmt::format("link {} -> {}: a network switch links only to NICs and other network switches",
                       a.name, b.name);
  }
  const bool network_side = a_sw || b_sw || (a_nic && b_nic);
  if (network_side && kind != LinkKind::Net) {
    return fmt::format("link {} -> {}: links to network switches and NIC-to-NIC cables must be 'net', not '{}'",
                       a.name, b.name, to_string(kind));
  }
  if (!network_side && kind == LinkKind::Net) {
    return fmt::format("link {} -> {}: a 'net' link must join a NIC or network switch to a network switch, "
                       "or two NICs", a.name, b.name);
  }
  return "";
}

}  // namespace detail

// ---- Cluster -----------------------------------------------------------------------------------

Cluster::Cluster(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Cluster::~Cluster() = default;
Cluster::Cluster(Cluster&&) noexcept = default;
Cluster& Cluster::operator=(Cluster&&) noexcept = default;

const std::string& Cluster::name() const noexcept { return impl_->name; }
const std::string& Cluster::source_file() const noexcept { return impl_->source_file; }
const std::string& Cluster::device_spec() const noexcept { return impl_->device_spec; }
int Cluster::device_spec_line() const noexcept { return impl_->device_spec_line; }

int Cluster::gpu_count() const noexcept { return static_cast<int>(impl_->gpu_vertex.size()); }
int Cluster::node_count() const noexcept { return static_cast<int>(impl_->node_gpus.size()); }

VertexId Cluster::gpu_vertex(int gpu) const {
  if (gpu < 0 || gpu >= gpu_count()) throw std::out_of_range(fmt::format("no GPU {}", gpu));
  return impl_->gpu_vertex[static_cast<std::size_t>(gpu)];
}

int Cluster::node_of(int gpu) const { return impl_->graph[gpu_vertex(gpu)].node; }

std::span<const int> Cluster::gpus_of_node(int node) const {
  if (node < 0 || node >= node_count()) throw std::out_of_range(fmt::format("no node {}", node));
  return impl_->node_gpus[static_cast<std::size_t>(node)];
}

std::size_t Cluster::vertex_count() const noexcept { return boost::num_vertices(impl_->graph); }

const VertexInfo& Cluster::vertex(VertexId v) const {
  if (v >= vertex_count()) throw std::out_of_range(fmt::format("no vertex {}", v));
  return impl_->graph[v];
}

const std::string& Cluster::vertex_name(VertexId v) const { return vertex(v).name; }

std::optional<VertexId> Cluster::find_vertex(std::string_view name) const {
  const auto it = impl_->by_name.find(std::string(name));
  if (it == impl_->by_name.end()) return std::nullopt;
  return it->second;
}

std::size_t Cluster::edge_count() const noexcept { return impl_->edges.size(); }
std::size_t Cluster::link_count() const noexcept { return 2 * impl_->edges.size(); }

LinkInfo Cluster::link(LinkId id) const {
  if (id >= link_count()) throw std::out_of_range(fmt::format("no link {}", id));
  const auto& p = impl_->edge(id / 2);
  const bool forward = id % 2 == 0;
  LinkInfo info;
  info.id = id;
  info.kind = p.kind;
  info.bandwidth = forward ? p.a_to_b : p.b_to_a;
  info.latency = p.latency;
  info.from = forward ? p.a : p.b;
  info.to = forward ? p.b : p.a;
  info.from_name = impl_->graph[info.from].name;
  info.to_name = impl_->graph[info.to].name;
  return info;
}

Route Cluster::route(int a, int b) const {
  std::lock_guard lock(impl_->route_mutex);
  if (!impl_->router) impl_->router = detail::make_router(impl_->graph, impl_->gpu_vertex);
  return detail::route_of(*impl_->router, a, b);
}

// ---- ClusterBuilder ----------------------------------------------------------------------------

ClusterBuilder::ClusterBuilder() : impl_(std::make_unique<Cluster::Impl>()) {}
ClusterBuilder::~ClusterBuilder() = default;
ClusterBuilder::ClusterBuilder(ClusterBuilder&&) noexcept = default;
ClusterBuilder& ClusterBuilder::operator=(ClusterBuilder&&) noexcept = default;

VertexId ClusterBuilder::add_vertex(std::string name, DeviceKind kind, int node) {
  if (auto problem = detail::name_problem(name); !problem.empty()) throw Error(problem);
  if (impl_->by_name.count(name) != 0) throw Error(fmt::format("duplicate vertex name '{}'", name));
  if (kind != DeviceKind::GPU && node >= 0) throw Error(fmt::format("vertex '{}': only GPUs have a node", name));
  VertexInfo info;
  info.name = name;
  info.kind = kind;
  if (kind == DeviceKind::GPU) {
    info.gpu = static_cast<int>(impl_->gpu_vertex.size());
    info.node = node;
  }
  invalidate();
  const auto v = static_cast<VertexId>(boost::add_vertex(info, impl_->graph));
  impl_->by_name.emplace(std::move(name), v);
  if (kind == DeviceKind::GPU) impl_->gpu_vertex.push_back(v);
  return v;
}

void ClusterBuilder::set_p2p(VertexId gpu, bool p2p) {
  if (gpu >= vertex_count() || impl_->graph[gpu].kind != DeviceKind::GPU) throw Error("set_p2p: not a GPU");
  invalidate();
  impl_->graph[gpu].p2p = p2p;
}

void ClusterBuilder::set_port_bandwidth(VertexId nic, Bandwidth bw) {
  if (nic >= vertex_count() || impl_->graph[nic].kind != DeviceKind::NIC) throw Error("set_port_bandwidth: not a NIC");
  if (!(bw.value > 0) || !std::isfinite(bw.value)) throw Error("set_port_bandwidth: bandwidth must be > 0");
  impl_->graph[nic].port_bandwidth = bw;
}

std::uint32_t ClusterBuilder::add_link(VertexId a, VertexId b, LinkKind kind, Bandwidth a_to_b, Bandwidth b_to_a,
                                       Time latency) {
  if (a >= vertex_count() || b >= vertex_count()) throw Error("add_link: no such vertex");
  if (a == b) throw Error(fmt::format("add_link: a link from '{}' to itself", impl_->graph[a].name));
  const auto bad_bw = [](Bandwidth bw) { return !(bw.value > 0) || !std::isfinite(bw.value); };
  if (bad_bw(a_to_b) || bad_bw(b_to_a)) throw Error("add_link: bandwidth must be finite and > 0");
  if (latency.value <= 0) throw Error("add_link: latency must be > 0");
  if (auto problem = detail::link_problem(impl_->graph[a], impl_->graph[b], kind); !problem.empty()) {
    throw Error(problem);
  }
  invalidate();
  const auto index = static_cast<std::uint32_t>(impl_->edges.size());
  const auto [e, added] =
      boost::add_edge(a, b, detail::EdgeProps{index, a, b, kind, a_to_b, b_to_a, latency}, impl_->graph);
  (void)added;  // vecS out-edge lists allow parallel links
  impl_->edges.push_back(e);
  return index;
}

void ClusterBuilder::set_name(std::string name) { impl_->name = std::move(name); }
void ClusterBuilder::set_source(std::string file) { impl_->source_file = std::move(file); }
void ClusterBuilder::set_device_spec(std::string absolute_path, int line) {
  impl_->device_spec = std::move(absolute_path);
  impl_->device_spec_line = line;
}

std::size_t ClusterBuilder::vertex_count() const noexcept { return boost::num_vertices(impl_->graph); }
int ClusterBuilder::gpu_count() const noexcept { return static_cast<int>(impl_->gpu_vertex.size()); }

const std::string& ClusterBuilder::gpu_name(int gpu) const {
  if (gpu < 0 || gpu >= gpu_count()) throw std::out_of_range(fmt::format("no GPU {}", gpu));
  return impl_->graph[impl_->gpu_vertex[static_cast<std::size_t>(gpu)]].name;
}

std::optional<VertexId> ClusterBuilder::find_vertex(std::string_view name) const {
  const auto it = impl_->by_name.find(std::string(name));
  if (it == impl_->by_name.end()) return std::nullopt;
  return it->second;
}

void ClusterBuilder::invalidate() noexcept {
  checked_ = false;
  impl_->router.reset();
}

std::optional<std::pair<int, int>> ClusterBuilder::unreachable_pair() const {
  if (checked_) return unreachable_;
  // The router built for the check is kept: the Cluster reuses it for route().
  impl_->router = detail::make_router(impl_->graph, impl_->gpu_vertex);
  int a = 0;
  int b = 0;
  unreachable_ = detail::find_unreachable(*impl_->router, a, b) ? std::optional(std::make_pair(a, b)) : std::nullopt;
  checked_ = true;
  return unreachable_;
}

namespace {
// Nodes when none were given: connected components of the host side (the graph without network
// switches and network links), numbered in order of their first GPU.
std::vector<int> host_components(const detail::Graph& g) {
  const auto n = boost::num_vertices(g);
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  const auto find = [&](std::size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (auto [it, end] = boost::edges(g); it != end; ++it) {
    const auto& p = g[*it];
    if (p.kind == LinkKind::Net) continue;
    parent[find(p.a)] = find(p.b);
  }
  std::vector<int> comp(n, -1);
  std::vector<int> node_of_root(n, -1);
  int next = 0;
  for (std::size_t v = 0; v < n; ++v) {
    if (g[v].kind != DeviceKind::GPU) continue;
    auto& id = node_of_root[find(v)];
    if (id < 0) id = next++;
    comp[v] = id;
  }
  return comp;
}
}  // namespace

Cluster ClusterBuilder::build() {
  auto& g = impl_->graph;
  if (impl_->gpu_vertex.empty()) throw Error("a cluster needs at least one GPU");
  std::size_t with_node = 0;
  for (const auto v : impl_->gpu_vertex) with_node += g[v].node >= 0 ? 1U : 0U;
  if (with_node != 0 && with_node != impl_->gpu_vertex.size()) {
    throw Error("give a node index for every GPU or for none");
  }
  if (with_node == 0) {
    const auto comp = host_components(g);
    for (const auto v : impl_->gpu_vertex) g[v].node = comp[v];
  }
  int nodes = 0;
  for (const auto v : impl_->gpu_vertex) nodes = std::max(nodes, g[v].node + 1);
  impl_->node_gpus.assign(static_cast<std::size_t>(nodes), {});
  for (const auto v : impl_->gpu_vertex) impl_->node_gpus[static_cast<std::size_t>(g[v].node)].push_back(g[v].gpu);
  for (std::size_t n = 0; n < impl_->node_gpus.size(); ++n) {
    if (impl_->node_gpus[n].empty()) throw Error(fmt::format("node indices must be dense: node {} has no GPUs", n));
  }
  if (const auto pair = unreachable_pair()) {
    throw Error(fmt::format("GPU {} ({}) has no route to GPU {} ({})", pair->first,
                            g[impl_->gpu_vertex[static_cast<std::size_t>(pair->first)]].name, pair->second,
                            g[impl_->gpu_vertex[static_cast<std::size_t>(pair->second)]].name));
  }
  if (impl_->name.empty()) impl_->name = "cluster";
  Cluster out(std::move(impl_));
  impl_ = std::make_unique<Cluster::Impl>();
  checked_ = false;
  return out;
}

}  // namespace ringlab::topology
