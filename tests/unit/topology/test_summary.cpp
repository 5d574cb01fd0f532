// The `ringlab topology` text, injection bandwidth, DOT output and the builder API.
#include <doctest/doctest.h>

#include <sstream>

#include "helpers.hpp"
#include "ringlab/topology/summary.hpp"

using namespace ringlab;
using namespace ringlab::topology;
using topo_test::config;

namespace {
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}
}  // namespace

TEST_CASE("summary: counts, injection, bisection and a route") {
  const auto c = load_topology(config("dgx-h100-x2-ndr.yaml"));
  const auto s = summary_text(c, std::pair{0, 8});
  CAPTURE(s);
  CHECK(has_line(s, "name        dgx-h100-x2-ndr"));
  CHECK(has_line(s, "GPUs        16 in 2 nodes (8 per node)"));
  CHECK(has_line(s, "vertices    44: 16 gpu, 2 nvswitch, 16 nic, 10 switch"));
  CHECK(has_line(s, "links       64 full duplex (128 directed link ids): 16 nvlink, 16 pcie, 0 c2c, 32 net"));
  CHECK(has_line(s, "injection   per GPU, per direction: NVLink 450 GB/s, PCIe/C2C 64 GB/s, network 50 GB/s (share of "
                    "reachable NICs)"));
  CHECK(has_line(s, "bisection   400 GB/s per direction (max-flow from GPUs 0-7 to GPUs 8-15)"));
  CHECK(has_line(s, "route       GPU 0 (n0.gpu0) -> GPU 8 (n1.gpu0): 4 hops, latency 2.6 us, bottleneck 50 GB/s"));
  CHECK(has_line(s, "   1  n0.gpu0 -> n0.nic0           pcie         64 GB/s       1 us"));
  CHECK(has_line(s, "   2  n0.nic0 -> leaf0             net          50 GB/s     0.3 us  <- bottleneck"));
}

TEST_CASE("injection: NIC shares and PCIe-only GPUs") {
  const auto gtx = load_topology(config("gtx1080x2-pcie3.yaml"));
  const auto i = injection_bandwidth(gtx, 0);
  CHECK(i.nvlink == Bandwidth(0));
  CHECK(i.host == gb_per_s(16));
  CHECK(i.network == Bandwidth(0));
  // One 50 GB/s NIC under the host bridge, reachable by both GPUs: 25 each.
  const auto shared = topo_test::parse(R"(device: d.yaml
node: {template: pcie_node, gpus: 2, p2p: true, pcie_bandwidth_gbps: 32, pcie_latency_us: 1, nics: 1,
       nic_bandwidth_gbps: 50}
)");
  CHECK(injection_bandwidth(shared, 1).network == gb_per_s(25));
  const auto nvl = load_topology(config("gb200-nvl72.yaml"));
  CHECK(injection_bandwidth(nvl, 5).nvlink == gb_per_s(900));
  CHECK(injection_bandwidth(nvl, 5).host == gb_per_s(64 + 450));  // PCIe to its NIC + C2C to its Grace
  CHECK(injection_bandwidth(nvl, 5).network == gb_per_s(50));
}

TEST_CASE("write_dot: Graphviz text with every vertex and link") {
  const auto c = load_topology(config("dgx-h100.yaml"));
  std::ostringstream out;
  write_dot(c, out);
  const auto dot = out.str();
  CHECK(dot.rfind("graph G {", 0) == 0);
  CHECK(dot.find("[label=\"n0.gpu7\", shape=box, tooltip=\"gpu\"]") != std::string::npos);
  CHECK(dot.find("[label=\"nvlink 450 GB/s, 1 us\"]") != std::string::npos);
  std::size_t edges = 0;
  for (std::size_t at = dot.find("--"); at != std::string::npos; at = dot.find("--", at + 2)) ++edges;
  CHECK(edges == c.edge_count());
}

TEST_CASE("write_dot: the cluster's name (from the user's file) is a well-formed DOT string") {
  ClusterBuilder b;
  const auto g0 = b.add_vertex("g0", DeviceKind::GPU);
  const auto g1 = b.add_vertex("g1", DeviceKind::GPU);
  b.add_link(g0, g1, LinkKind::NVLink, gb_per_s(10), microseconds(1));
  b.set_name("we\"ird \\ name\nhere");
  std::ostringstream out;
  write_dot(b.build(), out);
  CHECK(out.str().find("label=\"we\\\"ird \\\\ name here\";\n") != std::string::npos);
}

TEST_CASE("ClusterBuilder: building in code, and its programming errors") {
  ClusterBuilder b;
  const auto g0 = b.add_vertex("g0", DeviceKind::GPU);
  const auto g1 = b.add_vertex("g1", DeviceKind::GPU);
  const auto s = b.add_vertex("s", DeviceKind::NVSwitch);
  const auto net = b.add_vertex("net", DeviceKind::Switch);
  CHECK_THROWS_AS(b.add_vertex("g0", DeviceKind::CPU), Error);
  CHECK_THROWS_AS(b.add_link(g0, net, LinkKind::Net, gb_per_s(1), microseconds(1)), Error);
  CHECK_THROWS_AS(b.add_link(g0, s, LinkKind::NVLink, Bandwidth(0), microseconds(1)), Error);
  CHECK_THROWS_AS(b.add_link(g0, s, LinkKind::NVLink, gb_per_s(1), Time(0)), Error);
  CHECK(b.add_link(g0, s, LinkKind::NVLink, gb_per_s(100), microseconds(1)) == 0);
  CHECK(b.unreachable_pair() == std::pair{0, 1});
  // Two parallel links to g1: equal paths, both usable.
  CHECK(b.add_link(g1, s, LinkKind::NVLink, gb_per_s(100), microseconds(1)) == 1);
  CHECK(b.add_link(g1, s, LinkKind::NVLink, gb_per_s(100), microseconds(1)) == 2);
  CHECK_FALSE(b.unreachable_pair());
  b.set_name("built");
  const auto c = b.build();
  CHECK(c.name() == "built");
  CHECK(c.source_file().empty());
  CHECK(c.node_count() == 1);
  const auto r = c.route(0, 1);
  REQUIRE(r.hops.size() == 2);
  CHECK(r.hops[0].link == 0);
  CHECK((r.hops[1].link == 3 || r.hops[1].link == 5));  // s -> g1 over either parallel link
}
