// Malformed topologies: every error names file, line and field.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace ringlab;
using namespace ringlab::topology;
using topo_test::error_of;
using topo_test::parse;

namespace {
// A valid explicit cluster: two GPUs on an NVSwitch, each with a NIC on one network switch.
const std::string kExplicit = R"(name: tiny
device: ../devices/h100-sxm.yaml
vertices:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu, p2p: true}
  - {name: sw, kind: nvswitch}
  - {name: nic0, kind: nic, port_bandwidth_gbps: 50}
  - {name: nic1, kind: nic}
  - {name: ib, kind: switch}
links:
  - {from: g0, to: sw, kind: nvlink, bandwidth_gbps: 450, latency_us: 1.0}
  - {from: g1, to: sw, kind: nvlink, bandwidth_gbps: 450, reverse_bandwidth_gbps: 300, latency_us: 1.0}
  - {from: g0, to: nic0, kind: pcie, bandwidth_gbps: 64, latency_us: 1.0}
  - {from: g1, to: nic1, kind: pcie, bandwidth_gbps: 64, latency_us: 1.0}
  - {from: nic0, to: ib, kind: net, bandwidth_gbps: 50, latency_us: 0.3}
  - {from: nic1, to: ib, kind: net, bandwidth_gbps: 25, latency_us: 0.3}
)";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

const std::string kTemplate = R"(device: d.yaml
node:
  template: nvswitch_node
  nvlink_bandwidth_gbps: 450
  nvlink_latency_us: 1
  pcie_bandwidth_gbps: 64
  pcie_latency_us: 1
  nic_bandwidth_gbps: 50
copies: 2
fabric:
  template: rail_leaf_spine
  spines: 2
  link_latency_us: 0.3
)";
}  // namespace

TEST_CASE("explicit topology: loads, derives nodes, keeps per-direction bandwidth") {
  const auto c = parse(kExplicit, "/cfg/topologies/tiny.yaml");
  CHECK(c.name() == "tiny");
  CHECK(c.device_spec() == "/cfg/devices/h100-sxm.yaml");
  CHECK(c.gpu_count() == 2);
  CHECK(c.node_count() == 1);  // g0, g1 share the NVSwitch: one host-side component
  CHECK(c.edge_count() == 6);
  CHECK(c.link(2).bandwidth == gb_per_s(450));  // g1 -> sw
  CHECK(c.link(3).bandwidth == gb_per_s(300));  // sw -> g1
  CHECK(c.link(3).from_name == "sw");
  CHECK(c.vertex(*c.find_vertex("nic0")).port_bandwidth == gb_per_s(50));
  CHECK(c.route(0, 1).bottleneck() == gb_per_s(300));
  CHECK(c.route(1, 0).bottleneck() == gb_per_s(450));
  CHECK(c.route(0, 1).hops.size() == 2);  // NVLink (2 us) beats the network (2.6 us)
}

TEST_CASE("explicit topology: structural errors") {
  CHECK(error_of([&] { (void)parse(with(kExplicit, "name: tiny", "name: tiny\ncolour: red")); }) ==
        "t.yaml:2:1: field 'colour': unknown key 'colour' (allowed: name, description, device, vertices, links, node, "
        "copies, fabric)");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "{name: nic1, kind: nic}", "{name: g0, kind: nic}")); }) ==
        "t.yaml:8:12: field 'vertices[4].name': duplicate vertex name 'g0' (first defined on line 4)");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "to: ib, kind: net, bandwidth_gbps: 25", "to: ib2, kind: net, bandwidth_gbps: 25")); }) ==
        "t.yaml:16:22: field 'links[5].to': unknown vertex 'ib2'");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "{name: sw, kind: nvswitch}", "{name: sw, kind: nvswich}")); }) ==
        "t.yaml:6:22: field 'vertices[2].kind': 'nvswich' is not one of: gpu, nvswitch, pcie_switch, cpu, nic, switch");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "{name: sw, kind: nvswitch}", "{name: sw, kind: nvswitch, node: 0}")); }) ==
        "t.yaml:6:38: field 'vertices[2].node': only GPUs have 'node'");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "{name: g0, kind: gpu}", "{name: g0, kind: gpu, node: 0}")); }) ==
        "t.yaml:5:5: field 'vertices[1]': give 'node' for every GPU or for none");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "{name: g0, kind: gpu}", "{name: 'g 0', kind: gpu}")); }) ==
        "t.yaml:4:12: field 'vertices[0].name': vertex name 'g 0' may only use letters, digits and _ . : / -");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "from: g0, to: sw", "from: g0, to: g0")); }) ==
        "t.yaml:11:20: field 'links[0].to': a link from 'g0' to itself");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "from: g0, to: nic0, kind: pcie", "from: g0, to: ib, kind: net")); }) ==
        "t.yaml:13:30: field 'links[2].kind': link g0 -> ib: a network switch links only to NICs and other network "
        "switches");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "to: ib, kind: net, bandwidth_gbps: 50", "to: ib, kind: pcie, bandwidth_gbps: 50")); }) ==
        "t.yaml:15:32: field 'links[4].kind': link nic0 -> ib: links to network switches and NIC-to-NIC cables must be "
        "'net', not 'pcie'");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "vertices:", "node: {template: pcie_node}\nvertices:")); }) ==
        "t.yaml:3:7: field 'node': give either 'vertices' and 'links' or a 'node' template, not both");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "device: ../devices/h100-sxm.yaml\n", "")); }) ==
        "t.yaml:1:1: missing required field 'device'");
  CHECK(error_of([&] { (void)load_topology("/nonexistent/t.yaml"); }).rfind("/nonexistent/t.yaml: cannot open file", 0) == 0);
}

TEST_CASE("explicit topology: bad numbers") {
  CHECK(error_of([&] { (void)parse(with(kExplicit, "bandwidth_gbps: 64, latency_us: 1.0}\n  - {from: g1", "bandwidth_gbps: 0, latency_us: 1.0}\n  - {from: g1")); }) ==
        "t.yaml:13:54: field 'links[2].bandwidth_gbps': must be greater than 0, got 0");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "bandwidth_gbps: 25", "bandwidth_gbps: -25")); }) ==
        "t.yaml:16:53: field 'links[5].bandwidth_gbps': must be greater than 0, got -25");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "bandwidth_gbps: 25", "bandwidth_gbps: fast")); }) ==
        "t.yaml:16:53: field 'links[5].bandwidth_gbps': expected a number, got 'fast'");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "latency_us: 0.3}\n  - {from: nic1", "latency_us: 0}\n  - {from: nic1")); }) ==
        "t.yaml:15:69: field 'links[4].latency_us': must be greater than 0, got 0");
  CHECK(error_of([&] { (void)parse(with(kExplicit, "p2p: true", "p2p: yes")); }) ==
        "t.yaml:5:32: field 'vertices[1].p2p': expected true or false, got 'yes'");
  CHECK(error_of([&] { (void)parse(kExplicit.substr(0, kExplicit.find("links:")) + "links: 3\n"); }) ==
        "t.yaml:10:8: field 'links': expected a list");
  CHECK(error_of([&] { (void)parse(with(with(kExplicit, "{name: g0, kind: gpu}", "{name: g0, kind: gpu, node: 0}"),
                                        "{name: g1, kind: gpu, p2p: true}", "{name: g1, kind: gpu, node: 2}")); }) ==
        "t.yaml:4:3: field 'vertices': node indices must run 0..2 without gaps: node 1 has no GPU");
}

TEST_CASE("explicit topology: a GPU with no path to another") {
  // Cut g1 off: its only links become a NIC that nothing else reaches.
  auto text = with(kExplicit, "  - {from: g1, to: sw, kind: nvlink, bandwidth_gbps: 450, reverse_bandwidth_gbps: 300, latency_us: 1.0}\n", "");
  text = with(text, "  - {from: nic1, to: ib, kind: net, bandwidth_gbps: 25, latency_us: 0.3}\n", "");
  CHECK(error_of([&] { (void)parse(text); }) ==
        "t.yaml:4:5: field 'vertices[0]': GPU 0 (g0) has no route to GPU 1 (g1) (a GPU is never crossed, a NIC only "
        "into or out of its own host)");
  // A path that exists only through a third GPU is no path.
  const std::string relay = R"(device: d.yaml
vertices: [{name: a, kind: gpu}, {name: b, kind: gpu}, {name: c, kind: gpu}]
links:
  - {from: a, to: b, kind: nvlink, bandwidth_gbps: 1, latency_us: 1}
  - {from: b, to: c, kind: nvlink, bandwidth_gbps: 1, latency_us: 1}
)";
  CHECK(error_of([&] { (void)parse(relay); }) ==
        "t.yaml:2:12: field 'vertices[0]': GPU 0 (a) has no route to GPU 2 (c) (a GPU is never crossed, a NIC only "
        "into or out of its own host)");
}

TEST_CASE("template topology: errors") {
  CHECK_NOTHROW((void)parse(kTemplate));
  CHECK(error_of([&] { (void)parse(with(kTemplate, "template: nvswitch_node", "template: dgx")); }) ==
        "t.yaml:3:13: field 'node.template': 'dgx' is not one of: nvswitch_node, pcie_node, nvl72");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "nvlink_bandwidth_gbps: 450", "nvlink_bandwidth_gbps: 450\n  nvlink_gbps: 1")); }) ==
        "t.yaml:5:3: field 'node.nvlink_gbps': unknown key 'nvlink_gbps' (allowed: template, gpus, nvlink_bandwidth_gbps, "
        "nvlink_latency_us, pcie_bandwidth_gbps, pcie_latency_us, nic_bandwidth_gbps)");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "  nvlink_latency_us: 1\n", "")); }) ==
        "t.yaml:3:3: field 'node': missing required field 'nvlink_latency_us'");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "template: nvswitch_node", "template: nvswitch_node\n  gpus: 8.5")); }) ==
        "t.yaml:4:9: field 'node.gpus': expected a whole number, got '8.5'");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "pcie_bandwidth_gbps: 64", "pcie_bandwidth_gbps: 0")); }) ==
        "t.yaml:6:24: field 'node.pcie_bandwidth_gbps': must be greater than 0, got 0");
  // Copies with no fabric cannot talk.
  CHECK(error_of([&] { (void)parse(kTemplate.substr(0, kTemplate.find("fabric:"))); }) ==
        "t.yaml:9:9: field 'copies': GPU 0 (n0.gpu0) has no route to GPU 8 (n1.gpu0) (a GPU is never crossed, a NIC "
        "only into or out of its own host)");
  // Rails without spines: rail 0 never meets rail 1.
  CHECK(error_of([&] { (void)parse(with(kTemplate, "spines: 2", "spines: 0")); }) ==
        "t.yaml:11:3: field 'fabric': GPU 0 (n0.gpu0) has no route to GPU 9 (n1.gpu1) (a GPU is never crossed, a NIC "
        "only into or out of its own host)");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "spines: 2", "spines: 2\n  oversubscription: 2")); }) ==
        "t.yaml:13:21: field 'fabric.oversubscription': expected a ratio like \"2:1\" (downlink:uplink), got '2'");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "spines: 2", "spines: 2\n  oversubscription: \"1:2\"")); }) ==
        "t.yaml:13:21: field 'fabric.oversubscription': oversubscription '1:2' is below 1:1 (uplinks faster than "
        "downlinks)");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "spines: 2", "spines: 2\n  nodes_per_leaf: 3")); }) ==
        "t.yaml:13:19: field 'fabric.nodes_per_leaf': 2 nodes cannot be split into leaf groups of 3");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "template: rail_leaf_spine\n  spines: 2", "template: torus\n  dims: [3, 3]\n  link_bandwidth_gbps: 50")); }) ==
        "t.yaml:12:9: field 'fabric.dims': the sizes multiply to 9 but the cluster has 2 nodes");
  CHECK(error_of([&] { (void)parse(with(kTemplate, "template: rail_leaf_spine", "template: mesh")); }) ==
        "t.yaml:11:13: field 'fabric.template': 'mesh' is not one of: rail_leaf_spine, fat_tree, torus");
  const std::string pcie = R"(device: d.yaml
node: {template: pcie_node, gpus: 3, pcie_switches: 2, p2p: true, pcie_bandwidth_gbps: 16, pcie_latency_us: 1}
)";
  CHECK(error_of([&] { (void)parse(pcie); }) ==
        "t.yaml:2:53: field 'node.pcie_switches': 3 GPUs cannot be spread evenly over 2 PCIe switches");
  CHECK(error_of([&] { (void)parse(with(pcie, "p2p: true", "p2p: false")); }) ==
        "t.yaml:2:7: field 'node': missing required field 'host_bounce_latency_us'");
  CHECK(error_of([&] { (void)parse(with(pcie, "gpus: 3, pcie_switches: 2", "gpus: 2") + "copies: 2\nfabric: {template: fat_tree, nodes_per_leaf: 1, spines: 1, link_latency_us: 1}\n"); }) ==
        "t.yaml:4:9: field 'fabric': the node template has no NICs for this fabric to connect (pcie_node: set nics)");
  CHECK(error_of([&] { (void)parse(with(pcie, "pcie_switches: 2, p2p: true", "p2p: true, host_bounce_latency_us: 5")); }) ==
        "t.yaml:2:73: field 'node.host_bounce_latency_us': only meaningful with p2p: false");
}
