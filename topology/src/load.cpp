// Topology YAML: explicit vertices/links, or a node template (nvswitch_node, pcie_node, nvl72) copied
// `copies` times and joined by a fabric template (rail_leaf_spine, fat_tree, torus). See docs/topology.md.
#include "ringlab/topology/load.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <string_view>

#include "ringlab/core/error.hpp"
#include "cluster_impl.hpp"
#include "ringlab/core/units.hpp"

namespace ringlab::topology {

namespace {

// Must follow the enum orders in kinds.hpp.
constexpr std::array<std::string_view, 6> kDeviceNames{"gpu", "nvswitch", "pcie_switch", "cpu", "nic", "switch"};
constexpr std::array<std::string_view, 4> kLinkNames{"nvlink", "pcie", "c2c", "net"};
constexpr std::int64_t kMaxCount = 1 << 20;

Bandwidth read_bandwidth(const YamlNode& n) { return gb_per_s(n.as_positive_double()); }

Time read_latency(const YamlNode& n) {
  const Time t = microseconds(n.as_positive_double());
  if (t.value <= 0) n.fail("a latency must be at least 1 ps");
  return t;
}

int read_count(const YamlNode& parent, std::string_view key, std::int64_t lo, std::optional<int> fallback) {
  const auto n = parent.find(key);
  if (!n) {
    if (!fallback) (void)parent.at(key);  // throws "missing required field"
    return *fallback;
  }
  return static_cast<int>(n->as_int(lo, kMaxCount));
}

// "2:1" -> 2.0; a ratio of leaf downlink to uplink capacity, at least 1.
double read_ratio(const YamlNode& n) {
  const auto s = n.as_string();
  const auto colon = s.find(':');
  const auto bad = [&] { n.fail(fmt::format("expected a ratio like \"2:1\" (downlink:uplink), got '{}'", s)); };
  if (colon == std::string::npos) bad();
  double num = 0;
  double den = 0;
  try {
    std::size_t used = 0;
    num = std::stod(s.substr(0, colon), &used);
    if (used != colon) bad();
    den = std::stod(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1) bad();
  } catch (const std::logic_error&) {
    bad();
  }
  if (!(num > 0) || !(den > 0) || !std::isfinite(num) || !std::isfinite(den)) bad();
  if (num < den) n.fail(fmt::format("oversubscription '{}' is below 1:1 (uplinks faster than downlinks)", s));
  return num / den;
}

// What the node template produced, per cluster node: the NICs a fabric connects.
struct Nodes {
  std::vector<std::vector<VertexId>> nics;  // by node index
  std::vector<Bandwidth> port;              // by vertex id (NICs only)
};

void add_nic(ClusterBuilder& b, Nodes& nodes, int node, std::string name, Bandwidth bw, VertexId& out) {
  out = b.add_vertex(std::move(name), DeviceKind::NIC);
  b.set_port_bandwidth(out, bw);
  if (nodes.port.size() <= out) nodes.port.resize(out + 1);
  nodes.port[out] = bw;
  nodes.nics[static_cast<std::size_t>(node)].push_back(out);
}

// ---- node templates ----------------------------------------------------------------------------

void build_nvswitch_node(const YamlNode& n, int copies, ClusterBuilder& b, Nodes& nodes) {
  n.check_keys({"template", "gpus", "nvlink_bandwidth_gbps", "nvlink_latency_us", "pcie_bandwidth_gbps",
                "pcie_latency_us", "nic_bandwidth_gbps"});
  const int gpus = read_count(n, "gpus", 1, 8);
  const Bandwidth nvlink = read_bandwidth(n.at("nvlink_bandwidth_gbps"));
  const Time nvlink_lat = read_latency(n.at("nvlink_latency_us"));
  const Bandwidth pcie = read_bandwidth(n.at("pcie_bandwidth_gbps"));
  const Time pcie_lat = read_latency(n.at("pcie_latency_us"));
  const Bandwidth nic = read_bandwidth(n.at("nic_bandwidth_gbps"));
  nodes.nics.resize(static_cast<std::size_t>(copies));
  for (int c = 0; c < copies; ++c) {
    const VertexId sw = b.add_vertex(fmt::format("n{}.nvswitch", c), DeviceKind::NVSwitch);
    for (int i = 0; i < gpus; ++i) {
      const VertexId g = b.add_vertex(fmt::format("n{}.gpu{}", c, i), DeviceKind::GPU, c);
      b.add_link(g, sw, LinkKind::NVLink, nvlink, nvlink_lat);
      VertexId x = 0;
      add_nic(b, nodes, c, fmt::format("n{}.nic{}", c, i), nic, x);
      b.add_link(g, x, LinkKind::PCIe, pcie, pcie_lat);
    }
  }
}

void build_pcie_node(const YamlNode& n, int copies, ClusterBuilder& b, Nodes& nodes) {
  n.check_keys({"template", "gpus", "pcie_switches", "p2p", "pcie_bandwidth_gbps", "pcie_latency_us",
                "uplink_bandwidth_gbps", "host_bounce_latency_us", "nics", "nic_bandwidth_gbps"});
  const int gpus = read_count(n, "gpus", 1, 2);
  const int switches = read_count(n, "pcie_switches", 0, 0);
  const bool p2p = n.at("p2p").as_bool();
  const Bandwidth pcie = read_bandwidth(n.at("pcie_bandwidth_gbps"));
  const Time plain = read_latency(n.at("pcie_latency_us"));
  const Bandwidth uplink = n.has("uplink_bandwidth_gbps") ? read_bandwidth(n.at("uplink_bandwidth_gbps")) : pcie;
  if (switches == 0 && n.has("uplink_bandwidth_gbps")) {
    n.at("uplink_bandwidth_gbps").fail("only meaningful with pcie_switches > 0");
  }
  double bounce_us = 0;
  if (p2p && n.has("host_bounce_latency_us")) {
    n.at("host_bounce_latency_us").fail("only meaningful with p2p: false");
  }
  if (!p2p) bounce_us = n.at("host_bounce_latency_us").as_positive_double();
  const int nics = read_count(n, "nics", 0, 0);
  if (nics == 0 && n.has("nic_bandwidth_gbps")) n.at("nic_bandwidth_gbps").fail("only meaningful with nics > 0");
  const Bandwidth nic = nics > 0 ? read_bandwidth(n.at("nic_bandwidth_gbps")) : Bandwidth(0);
  if (switches > 0 && gpus % switches != 0) {
    n.at("pcie_switches").fail(fmt::format("{} GPUs cannot be spread evenly over {} PCIe switches", gpus, switches));
  }
  if (switches > 0 && nics % switches != 0) {
    n.at("nics").fail(fmt::format("{} NICs cannot be spread evenly over {} PCIe switches", nics, switches));
  }
  // With P2P off, a transfer is staged through host memory: half the bounce is charged on each link
  // into or out of the host bridge, so crossing the CPU (in and out) costs the whole bounce.
  const Time at_cpu = plain + microseconds(bounce_us / 2);
  nodes.nics.resize(static_cast<std::size_t>(copies));
  for (int c = 0; c < copies; ++c) {
    const VertexId cpu = b.add_vertex(fmt::format("n{}.cpu", c), DeviceKind::CPU);
    std::vector<VertexId> sw;
    for (int j = 0; j < switches; ++j) {
      sw.push_back(b.add_vertex(fmt::format("n{}.pcie{}", c, j), DeviceKind::PCIeSwitch));
      b.add_link(sw.back(), cpu, LinkKind::PCIe, uplink, at_cpu);
    }
    for (int i = 0; i < gpus; ++i) {
      const VertexId g = b.add_vertex(fmt::format("n{}.gpu{}", c, i), DeviceKind::GPU, c);
      b.set_p2p(g, p2p);
      if (switches == 0) {
        b.add_link(g, cpu, LinkKind::PCIe, pcie, at_cpu);
      } else {
        b.add_link(g, sw[static_cast<std::size_t>(i / (gpus / switches))], LinkKind::PCIe, pcie, plain);
      }
    }
    for (int k = 0; k < nics; ++k) {
      VertexId x = 0;
      add_nic(b, nodes, c, fmt::format("n{}.nic{}", c, k), nic, x);
      if (switches == 0) {
        b.add_link(x, cpu, LinkKind::PCIe, pcie, at_cpu);
      } else {
        b.add_link(x, sw[static_cast<std::size_t>(k / (nics / switches))], LinkKind::PCIe, pcie, plain);
      }
    }
  }
}

void build_nvl72(const YamlNode& n, int copies, ClusterBuilder& b, Nodes& nodes) {
  n.check_keys({"template", "gpus", "gpus_per_tray", "nvlink_bandwidth_gbps", "nvlink_latency_us",
                "pcie_bandwidth_gbps", "pcie_latency_us", "nic_bandwidth_gbps", "cpus_per_tray", "c2c_bandwidth_gbps",
                "c2c_latency_us"});
  const int gpus = read_count(n, "gpus", 1, 72);
  const int per_tray = read_count(n, "gpus_per_tray", 1, 4);
  if (gpus % per_tray != 0) n.at("gpus_per_tray").fail(fmt::format("{} GPUs do not fill whole trays of {}", gpus, per_tray));
  const Bandwidth nvlink = read_bandwidth(n.at("nvlink_bandwidth_gbps"));
  const Time nvlink_lat = read_latency(n.at("nvlink_latency_us"));
  const Bandwidth pcie = read_bandwidth(n.at("pcie_bandwidth_gbps"));
  const Time pcie_lat = read_latency(n.at("pcie_latency_us"));
  const Bandwidth nic = read_bandwidth(n.at("nic_bandwidth_gbps"));
  const int cpus = read_count(n, "cpus_per_tray", 0, 0);
  if (cpus > 0 && per_tray % cpus != 0) {
    n.at("cpus_per_tray").fail(fmt::format("{} GPUs per tray cannot be shared evenly by {} CPUs", per_tray, cpus));
  }
  if (cpus == 0) {
    for (const auto key : {"c2c_bandwidth_gbps", "c2c_latency_us"}) {
      if (n.has(key)) n.at(key).fail("only meaningful with cpus_per_tray > 0");
    }
  }
  const Bandwidth c2c = cpus > 0 ? read_bandwidth(n.at("c2c_bandwidth_gbps")) : Bandwidth(0);
  const Time c2c_lat = cpus > 0 ? read_latency(n.at("c2c_latency_us")) : Time(0);
  const int trays = gpus / per_tray;
  nodes.nics.resize(static_cast<std::size_t>(copies * trays));
  for (int c = 0; c < copies; ++c) {
    const VertexId sw = b.add_vertex(fmt::format("r{}.nvswitch", c), DeviceKind::NVSwitch);
    for (int t = 0; t < trays; ++t) {
      const int node = c * trays + t;
      std::vector<VertexId> cpu;
      for (int j = 0; j < cpus; ++j) cpu.push_back(b.add_vertex(fmt::format("n{}.cpu{}", node, j), DeviceKind::CPU));
      for (int i = 0; i < per_tray; ++i) {
        const VertexId g = b.add_vertex(fmt::format("n{}.gpu{}", node, i), DeviceKind::GPU, node);
        b.add_link(g, sw, LinkKind::NVLink, nvlink, nvlink_lat);
        if (cpus > 0) b.add_link(g, cpu[static_cast<std::size_t>(i / (per_tray / cpus))], LinkKind::C2C, c2c, c2c_lat);
        VertexId x = 0;
        add_nic(b, nodes, node, fmt::format("n{}.nic{}", node, i), nic, x);
        b.add_link(g, x, LinkKind::PCIe, pcie, pcie_lat);
      }
    }
  }
}

// ---- fabric templates --------------------------------------------------------------------------

std::size_t same_nic_count(const YamlNode& f, const Nodes& nodes) {
  const std::size_t rails = nodes.nics.front().size();
  if (rails == 0) f.fail("the node template has no NICs for this fabric to connect (pcie_node: set nics)");
  for (std::size_t i = 0; i < nodes.nics.size(); ++i) {
    if (nodes.nics[i].size() != rails) {
      f.fail(fmt::format("this fabric needs every node to have the same number of NICs; node 0 has {}, node {} has {}",
                         rails, i, nodes.nics[i].size()));
    }
  }
  return rails;
}

// Two-level leaf/spine. rail = true: NIC k of every node goes to leaf k of its group (rail-optimised);
// rail = false: all NICs of a node go to its group's single leaf (classic fat tree). Every leaf has one
// aggregated uplink to every spine, of (leaf downlink capacity) / oversubscription / spines.
void build_leaf_spine(const YamlNode& f, bool rail, ClusterBuilder& b, const Nodes& nodes) {
  f.check_keys({"template", "nodes_per_leaf", "spines", "link_latency_us", "oversubscription"});
  const auto node_count = static_cast<int>(nodes.nics.size());
  const std::size_t rails = same_nic_count(f, nodes);
  const int per_leaf = rail ? read_count(f, "nodes_per_leaf", 1, node_count) : read_count(f, "nodes_per_leaf", 1, std::nullopt);
  if (node_count % per_leaf != 0) {
    f.at("nodes_per_leaf").fail(fmt::format("{} nodes cannot be split into leaf groups of {}", node_count, per_leaf));
  }
  const int spines = read_count(f, "spines", 0, std::nullopt);
  const Time lat = read_latency(f.at("link_latency_us"));
  const double ratio = f.has("oversubscription") ? read_ratio(f.at("oversubscription")) : 1.0;
  const int groups = node_count / per_leaf;
  const std::size_t leaves_per_group = rail ? rails : 1;
  std::vector<VertexId> leaves;
  std::vector<double> down(static_cast<std::size_t>(groups) * leaves_per_group, 0.0);
  for (int g = 0; g < groups; ++g) {
    for (std::size_t k = 0; k < leaves_per_group; ++k) {
      std::string name;
      if (rail) {
        name = groups == 1 ? fmt::format("leaf{}", k) : fmt::format("g{}.leaf{}", g, k);
      } else {
        name = fmt::format("leaf{}", g);
      }
      leaves.push_back(b.add_vertex(std::move(name), DeviceKind::Switch));
    }
  }
  for (int n = 0; n < node_count; ++n) {
    const auto group = static_cast<std::size_t>(n / per_leaf);
    for (std::size_t k = 0; k < rails; ++k) {
      const std::size_t leaf = group * leaves_per_group + (rail ? k : 0);
      const VertexId nic = nodes.nics[static_cast<std::size_t>(n)][k];
      b.add_link(nic, leaves[leaf], LinkKind::Net, nodes.port[nic], lat);
      down[leaf] += nodes.port[nic].value;
    }
  }
  std::vector<VertexId> spine;
  for (int s = 0; s < spines; ++s) spine.push_back(b.add_vertex(fmt::format("spine{}", s), DeviceKind::Switch));
  for (std::size_t l = 0; l < leaves.size(); ++l) {
    const Bandwidth up(down[l] / ratio / static_cast<double>(spines));
    for (const VertexId s : spine) b.add_link(leaves[l], s, LinkKind::Net, up, lat);
  }
}

// A 2D/3D torus of routers, one per node (node n at x = n % X, y = n / X % Y, z = n / (X*Y)); the
// node's NICs link to its router, neighbouring routers link with wrap-around (a ring of 2 is one link).
void build_torus(const YamlNode& f, ClusterBuilder& b, const Nodes& nodes) {
  f.check_keys({"template", "dims", "link_bandwidth_gbps", "link_latency_us"});
  (void)same_nic_count(f, nodes);
  const YamlNode dims_node = f.at("dims");
  if (dims_node.size() != 2 && dims_node.size() != 3) dims_node.fail("expected a list of 2 or 3 sizes, e.g. [4, 4]");
  std::vector<int> dims;
  std::int64_t product = 1;
  for (std::size_t i = 0; i < dims_node.size(); ++i) {
    dims.push_back(static_cast<int>(dims_node[i].as_int(1, kMaxCount)));
    product *= dims.back();
  }
  if (product != static_cast<std::int64_t>(nodes.nics.size())) {
    dims_node.fail(fmt::format("the sizes multiply to {} but the cluster has {} nodes", product, nodes.nics.size()));
  }
  const Bandwidth bw = read_bandwidth(f.at("link_bandwidth_gbps"));
  const Time lat = read_latency(f.at("link_latency_us"));
  const auto coord_name = [&](int n) {
    std::string s = "torus";
    int rest = n;
    for (std::size_t d = 0; d < dims.size(); ++d) {
      s += fmt::format("{}{}", d == 0 ? "" : ".", rest % dims[d]);
      rest /= dims[d];
    }
    return s;
  };
  std::vector<VertexId> router;
  for (std::size_t n = 0; n < nodes.nics.size(); ++n) {
    router.push_back(b.add_vertex(coord_name(static_cast<int>(n)), DeviceKind::Switch));
    for (const VertexId nic : nodes.nics[n]) b.add_link(nic, router.back(), LinkKind::Net, nodes.port[nic], lat);
  }
  int stride = 1;
  for (const int size : dims) {
    for (std::size_t n = 0; n < router.size(); ++n) {
      const int pos = (static_cast<int>(n) / stride) % size;
      if (pos + 1 < size) {
        b.add_link(router[n], router[n + static_cast<std::size_t>(stride)], LinkKind::Net, bw, lat);
      } else if (size > 2) {  // wrap-around
        b.add_link(router[n], router[n - static_cast<std::size_t>(stride * (size - 1))], LinkKind::Net, bw, lat);
      }
    }
    stride *= size;
  }
}

// ---- explicit vertices and links ---------------------------------------------------------------

void build_explicit(const YamlNode& root, ClusterBuilder& b, std::vector<YamlNode>& gpu_nodes) {
  const YamlNode vertices = root.at("vertices");
  const YamlNode links = root.at("links");
  if (vertices.size() == 0) vertices.fail("expected at least one vertex");
  std::vector<int> first_line;
  bool any_node = false;
  for (std::size_t i = 0; i < vertices.size(); ++i) {
    const YamlNode v = vertices[i];
    v.check_keys({"name", "kind", "node", "p2p", "port_bandwidth_gbps"});
    const YamlNode name_node = v.at("name");
    const auto name = name_node.as_string();
    if (auto problem = detail::name_problem(name); !problem.empty()) name_node.fail(problem);
    if (const auto prev = b.find_vertex(name)) {
      name_node.fail(fmt::format("duplicate vertex name '{}' (first defined on line {})", name, first_line[*prev]));
    }
    const auto kind = static_cast<DeviceKind>(v.at("kind").as_choice(kDeviceNames));
    const bool gpu = kind == DeviceKind::GPU;
    for (const auto key : {"node", "p2p"}) {
      if (!gpu && v.has(key)) v.at(key).fail(fmt::format("only GPUs have '{}'", key));
    }
    if (kind != DeviceKind::NIC && v.has("port_bandwidth_gbps")) v.at("port_bandwidth_gbps").fail("only NICs have a port bandwidth");
    int node = -1;
    if (gpu && v.has("node")) {
      node = static_cast<int>(v.at("node").as_int(0, kMaxCount));
      if (!gpu_nodes.empty() && !any_node) v.at("node").fail("give 'node' for every GPU or for none");
      any_node = true;
    } else if (gpu && any_node) {
      v.fail("give 'node' for every GPU or for none");
    }
    const VertexId id = b.add_vertex(name, kind, node);
    first_line.push_back(v.line());
    if (gpu) {
      gpu_nodes.push_back(v);
      if (v.has("p2p")) b.set_p2p(id, v.at("p2p").as_bool());
    }
    if (v.has("port_bandwidth_gbps")) b.set_port_bandwidth(id, read_bandwidth(v.at("port_bandwidth_gbps")));
  }
  if (gpu_nodes.empty()) vertices.fail("no vertex has kind 'gpu'");
  if (any_node) {
    std::vector<bool> used;
    for (const auto& g : gpu_nodes) {
      const auto n = static_cast<std::size_t>(g.at("node").as_int());
      if (used.size() <= n) used.resize(n + 1, false);
      used[n] = true;
    }
    for (std::size_t n = 0; n < used.size(); ++n) {
      if (!used[n]) vertices.fail(fmt::format("node indices must run 0..{} without gaps: node {} has no GPU", used.size() - 1, n));
    }
  }
  // Vertex kinds by id, for the link checks below.
  std::vector<VertexInfo> info(b.vertex_count());
  for (std::size_t i = 0; i < vertices.size(); ++i) {
    info[i].name = vertices[i].at("name").as_string();
    info[i].kind = static_cast<DeviceKind>(vertices[i].at("kind").as_choice(kDeviceNames));
  }
  for (std::size_t i = 0; i < links.size(); ++i) {
    const YamlNode l = links[i];
    l.check_keys({"from", "to", "kind", "bandwidth_gbps", "reverse_bandwidth_gbps", "latency_us"});
    const auto endpoint = [&](std::string_view key) {
      const YamlNode e = l.at(key);
      const auto name = e.as_string();
      const auto id = b.find_vertex(name);
      if (!id) e.fail(fmt::format("unknown vertex '{}'", name));
      return *id;
    };
    const VertexId from = endpoint("from");
    const VertexId to = endpoint("to");
    if (from == to) l.at("to").fail(fmt::format("a link from '{}' to itself", info[from].name));
    const auto kind = static_cast<LinkKind>(l.at("kind").as_choice(kLinkNames));
    const Bandwidth bw = read_bandwidth(l.at("bandwidth_gbps"));
    const Bandwidth reverse = l.has("reverse_bandwidth_gbps") ? read_bandwidth(l.at("reverse_bandwidth_gbps")) : bw;
    const Time lat = read_latency(l.at("latency_us"));
    if (auto problem = detail::link_problem(info[from], info[to], kind); !problem.empty()) l.at("kind").fail(problem);
    b.add_link(from, to, kind, bw, reverse, lat);
  }
}

}  // namespace

Cluster load_topology(const std::string& path) { return load_topology(YamlDocument::load_file(path)); }

Cluster load_topology(const std::string& path, const std::vector<std::string>& overrides) {
  auto doc = YamlDocument::load_file(path);
  for (const auto& o : overrides) doc.apply_override(o);
  return load_topology(doc);
}

Cluster load_topology(const YamlDocument& doc) {
  namespace fs = std::filesystem;
  const YamlNode root = doc.root();
  if (!root.is_map()) root.fail("a topology file is a mapping with 'device' and 'node' (or 'vertices' and 'links')");
  root.check_keys({"name", "description", "device", "vertices", "links", "node", "copies", "fabric"});
  ClusterBuilder b;
  b.set_source(doc.file());
  b.set_name(root.has("name") ? root.at("name").as_string() : fs::path(doc.file()).stem().string());
  if (root.has("description")) (void)root.at("description").as_string();

  const YamlNode device = root.at("device");
  const auto device_path = device.as_string();
  if (device_path.empty()) device.fail("expected the path of a device spec (e.g. ../devices/h100-sxm.yaml)");
  const fs::path base = fs::absolute(fs::path(doc.file())).parent_path();
  b.set_device_spec((base / device_path).lexically_normal().string(), device.line());

  const bool has_explicit = root.has("vertices") || root.has("links");
  const bool has_template = root.has("node");
  if (has_explicit && has_template) {
    root.at("node").fail("give either 'vertices' and 'links' or a 'node' template, not both");
  }
  if (!has_explicit && !has_template) root.fail("missing required field 'node' (a template) or 'vertices' and 'links'");

  std::vector<YamlNode> gpu_nodes;  // explicit: where each GPU was declared
  std::optional<YamlNode> blame;    // template: where a disconnected cluster is reported
  if (has_explicit) {
    for (const auto key : {"copies", "fabric"}) {
      if (root.has(key)) root.at(key).fail("only used with a 'node' template");
    }
    build_explicit(root, b, gpu_nodes);
  } else {
    const YamlNode node = root.at("node");
    constexpr std::array<std::string_view, 3> kNodeTemplates{"nvswitch_node", "pcie_node", "nvl72"};
    const auto which = node.at("template").as_choice(kNodeTemplates);
    const int copies = read_count(root, "copies", 1, 1);
    Nodes nodes;
    if (which == 0) build_nvswitch_node(node, copies, b, nodes);
    if (which == 1) build_pcie_node(node, copies, b, nodes);
    if (which == 2) build_nvl72(node, copies, b, nodes);
    blame = copies > 1 ? root.at("copies") : node;
    if (const auto fabric = root.find("fabric")) {
      constexpr std::array<std::string_view, 3> kFabrics{"rail_leaf_spine", "fat_tree", "torus"};
      const auto kind = fabric->at("template").as_choice(kFabrics);
      if (kind == 0 || kind == 1) build_leaf_spine(*fabric, kind == 0, b, nodes);
      if (kind == 2) build_torus(*fabric, b, nodes);
      blame = fabric;
    }
  }

  if (const auto pair = b.unreachable_pair()) {
    const auto name_of = [&](int gpu) { return fmt::format("GPU {} ({})", gpu, b.gpu_name(gpu)); };
    const auto message = fmt::format("{} has no route to {} (a GPU is never crossed, a NIC only into or out of "
                                     "its own host)", name_of(pair->first), name_of(pair->second));
    if (has_explicit) gpu_nodes[static_cast<std::size_t>(pair->first)].fail(message);
    blame->fail(message);
  }
  try {
    return b.build();
  } catch (const Error& e) {
    root.fail(e.what());  // checked above; kept so a builder rule never escapes without a file name
  }
}

}  // namespace ringlab::topology
