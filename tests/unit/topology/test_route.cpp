// Routes: hop sequences and kinds, latency sums, bottlenecks, the transit rules and ECMP.
#include <doctest/doctest.h>

#include <set>

#include "helpers.hpp"

using namespace ringlab;
using namespace ringlab::topology;
using topo_test::config;
using topo_test::parse;
using topo_test::path_kinds;
using topo_test::path_names;
using Names = std::vector<std::string>;

TEST_CASE("route: inside an NVSwitch node, GPU -> NVSwitch -> GPU") {
  const auto c = load_topology(config("dgx-h100.yaml"));
  CHECK(path_names(c, 0, 5) == Names{"n0.gpu0", "n0.nvswitch", "n0.gpu5"});
  CHECK(path_kinds(c, 0, 5) == Names{"nvlink", "nvlink"});
  const auto r = c.route(0, 5);
  CHECK(r.latency() == microseconds(2.0));  // 2 x 1.0 us
  CHECK(r.bottleneck() == gb_per_s(450));
  CHECK(c.route(3, 3).hops.empty());
  CHECK(c.route(3, 3).bottleneck() == Bandwidth(0));
  CHECK(c.route(3, 3).latency() == Time(0));
  CHECK_THROWS_AS((void)c.route(0, 8), std::out_of_range);
}

TEST_CASE("route: across nodes on a rail, GPU -PCIe- NIC - leaf - NIC -PCIe- GPU") {
  const auto c = load_topology(config("dgx-h100-x2-ndr.yaml"));
  CHECK(path_names(c, 0, 8) == Names{"n0.gpu0", "n0.nic0", "leaf0", "n1.nic0", "n1.gpu0"});
  CHECK(path_kinds(c, 0, 8) == Names{"pcie", "net", "net", "pcie"});
  const auto r = c.route(0, 8);
  CHECK(r.latency() == microseconds(1.0 + 0.3 + 0.3 + 1.0));
  CHECK(r.bottleneck() == gb_per_s(50));  // the NIC, not PCIe gen5 (64)
  // Hops chain: each directed link starts where the previous one ended.
  VertexId at = c.gpu_vertex(0);
  for (const auto& h : r.hops) {
    const auto li = c.link(h.link);
    CHECK(li.from == at);
    CHECK(li.kind == h.kind);
    CHECK(li.bandwidth == h.bandwidth);
    CHECK(li.id == h.link);
    at = li.to;
  }
  CHECK(at == c.gpu_vertex(8));
  // The reverse direction uses the other directed id of each link.
  const auto back = c.route(8, 0);
  REQUIRE(back.hops.size() == 4);
  CHECK((back.hops[0].link ^ 1U) == r.hops[3].link);
}

TEST_CASE("route: across rails, through a spine (a GPU is never a relay)") {
  const auto c = load_topology(config("dgx-h100-x2-ndr.yaml"));
  const auto p = path_names(c, 0, 9);
  REQUIRE(p.size() == 7);
  CHECK(p[0] == "n0.gpu0");
  CHECK(p[1] == "n0.nic0");
  CHECK(p[2] == "leaf0");
  CHECK(p[3].rfind("spine", 0) == 0);
  CHECK(p[4] == "leaf1");
  CHECK(p[5] == "n1.nic1");
  CHECK(p[6] == "n1.gpu1");
  CHECK(c.route(0, 9).latency() == microseconds(1.0 + 4 * 0.3 + 1.0));
  CHECK(c.route(0, 9).bottleneck() == gb_per_s(50));  // leaf-spine aggregates 2 x 50 / 2 spines = 50
}

TEST_CASE("route: transit rules hold for every pair") {
  const auto c = load_topology(config("dgx-h100-x4-ndr.yaml"));
  for (int a = 0; a < c.gpu_count(); ++a) {
    for (int b = 0; b < c.gpu_count(); ++b) {
      if (a == b) continue;
      const auto r = c.route(a, b);
      REQUIRE(!r.hops.empty());
      const bool same_node = c.node_of(a) == c.node_of(b);
      CHECK(r.hops.size() == (same_node ? 2U : (a % 8 == b % 8 ? 4U : 6U)));
      for (std::size_t i = 0; i + 1 < r.hops.size(); ++i) {
        const auto mid = c.vertex(c.link(r.hops[i].link).to);
        CHECK(mid.kind != DeviceKind::GPU);
        if (mid.kind == DeviceKind::NIC) CHECK((i == 0 || i + 2 == r.hops.size()));
      }
    }
  }
}

TEST_CASE("route: ECMP is deterministic and spreads pairs over spines") {
  const auto c = load_topology(config("dgx-h100-x16-ndr.yaml"));
  const auto again = load_topology(config("dgx-h100-x16-ndr.yaml"));
  std::set<std::string> spines;
  for (int n = 1; n < 16; ++n) {
    const int dst = 8 * n + 1;  // rail 1 of node n: crosses a spine from rail 0
    const auto p = path_names(c, 0, dst);
    REQUIRE(p.size() == 7);
    spines.insert(p[3]);
    CHECK(path_names(c, 0, dst) == p);      // same pair, same path
    CHECK(path_names(again, 0, dst) == p);  // and in another load of the file
  }
  CHECK(spines.size() >= 4);  // 15 pairs over 8 equal spines
}

TEST_CASE("route: 1024 GPUs, across scalable units") {
  const auto c = load_topology(config("dgx-h100-x128-ndr.yaml"));
  const auto p = path_names(c, 0, 1023);  // SU 0 rail 0 -> SU 3 rail 7
  REQUIRE(p.size() == 7);
  CHECK(p[2] == "g0.leaf0");
  CHECK(p[4] == "g3.leaf7");
  CHECK(p[6] == "n127.gpu7");
  const auto q = path_names(c, 0, 8 * 32);  // same rail, next SU: via a spine
  REQUIRE(q.size() == 7);
  CHECK(q[4] == "g1.leaf0");
  CHECK(path_names(c, 0, 8 * 31) == Names{"n0.gpu0", "n0.nic0", "g0.leaf0", "n31.nic0", "n31.gpu0"});
  CHECK(c.route(1023, 0).hops.size() == 6);
}

TEST_CASE("route: GB200 NVL72 prefers NVLink over the Grace C2C path (equal latency, wider)") {
  const auto c = load_topology(config("gb200-nvl72.yaml"));
  CHECK(path_names(c, 0, 1) == Names{"n0.gpu0", "r0.nvswitch", "n0.gpu1"});
  CHECK(path_names(c, 0, 71) == Names{"n0.gpu0", "r0.nvswitch", "n17.gpu3"});
  CHECK(c.route(0, 71).bottleneck() == gb_per_s(900));
  CHECK(c.node_of(71) == 17);
}

TEST_CASE("route: PCIe P2P off bounces through the CPU") {
  const auto gtx = load_topology(config("gtx1080x2-pcie3.yaml"));
  CHECK(path_names(gtx, 0, 1) == Names{"n0.gpu0", "n0.cpu", "n0.gpu1"});
  CHECK(gtx.route(0, 1).latency() == microseconds(1.0 + 11.0 + 1.0));  // two links of 1 + 11/2
  CHECK(gtx.route(0, 1).bottleneck() == gb_per_s(16));

  const std::string under_switch = R"(device: d.yaml
node: {template: pcie_node, gpus: 2, pcie_switches: 1, p2p: PEER, pcie_bandwidth_gbps: 32,
       uplink_bandwidth_gbps: 16, pcie_latency_us: 1.0 BOUNCE}
)";
  auto text = under_switch;
  text.replace(text.find("PEER"), 4, "true").replace(text.find(" BOUNCE"), 7, "");
  const auto on = parse(text);
  CHECK(path_names(on, 0, 1) == Names{"n0.gpu0", "n0.pcie0", "n0.gpu1"});
  CHECK(on.route(0, 1).bottleneck() == gb_per_s(32));
  text = under_switch;
  text.replace(text.find("PEER"), 4, "false").replace(text.find(" BOUNCE"), 7, ", host_bounce_latency_us: 10");
  const auto off = parse(text);
  // Up through the switch to the host bridge and back down: the switch is visited twice, each
  // directed link once; the uplink (16) is the bottleneck.
  CHECK(path_names(off, 0, 1) == Names{"n0.gpu0", "n0.pcie0", "n0.cpu", "n0.pcie0", "n0.gpu1"});
  CHECK(off.route(0, 1).latency() == microseconds(1 + 6 + 6 + 1));
  CHECK(off.route(0, 1).bottleneck() == gb_per_s(16));

  // Without P2P there is no GPUDirect RDMA either: network traffic bounces on both sides.
  const auto boxes = parse(R"(device: d.yaml
node: {template: pcie_node, gpus: 2, pcie_switches: 1, p2p: false, pcie_bandwidth_gbps: 32, pcie_latency_us: 1,
       host_bounce_latency_us: 10, nics: 1, nic_bandwidth_gbps: 12.5}
copies: 2
fabric: {template: fat_tree, nodes_per_leaf: 2, spines: 0, link_latency_us: 0.5}
)");
  CHECK(path_names(boxes, 0, 2) == Names{"n0.gpu0", "n0.pcie0", "n0.cpu", "n0.pcie0", "n0.nic0", "leaf0", "n1.nic0",
                                         "n1.pcie0", "n1.cpu", "n1.pcie0", "n1.gpu0"});
  CHECK(boxes.route(0, 2).latency() == microseconds(2 * (1 + 6 + 6 + 1) + 2 * 0.5));
  CHECK(boxes.route(0, 2).bottleneck() == gb_per_s(12.5));
}

TEST_CASE("route: a 4x4 torus spreads equal shortest paths") {
  const auto c = parse(R"(device: d.yaml
node: {template: nvswitch_node, gpus: 1, nvlink_bandwidth_gbps: 450, nvlink_latency_us: 1,
       pcie_bandwidth_gbps: 64, pcie_latency_us: 1, nic_bandwidth_gbps: 50}
copies: 16
fabric: {template: torus, dims: [4, 4], link_bandwidth_gbps: 10, link_latency_us: 0.5}
)");
  CHECK(c.vertex_count() == 16 * 3 + 16);
  // Node 10 is (2, 2): 2 + 2 router hops from (0, 0), either way round each ring.
  const auto p = path_names(c, 0, 10);
  REQUIRE(p.size() == 9);
  CHECK(p[2] == "torus0.0");
  CHECK(p[6] == "torus2.2");
  CHECK(c.route(0, 10).latency() == microseconds(1 + 0.5 + 4 * 0.5 + 0.5 + 1));
  CHECK(c.route(0, 10).bottleneck() == gb_per_s(10));
  // Offset (2, 2) from every node: always 4 router hops (the torus distance), and the first move
  // (+x, -x, +y or -y: all are on some shortest path) varies with the pair.
  const auto coord = [](const std::string& router) {  // "torusX.Y" -> (X, Y)
    const auto dot = router.find('.');
    return std::pair{std::stoi(router.substr(5, dot - 5)), std::stoi(router.substr(dot + 1))};
  };
  std::set<std::pair<int, int>> first_moves;
  for (int src = 0; src < 16; ++src) {
    const int dst = (src % 4 + 2) % 4 + 4 * ((src / 4 + 2) % 4);
    const auto q = path_names(c, src, dst);
    REQUIRE(q.size() == 9);
    const auto [x0, y0] = coord(q[2]);
    const auto [x1, y1] = coord(q[3]);
    first_moves.insert({(x1 - x0 + 4) % 4, (y1 - y0 + 4) % 4});
  }
  CHECK(first_moves.size() >= 3);
}

TEST_CASE("route: a Dijkstra stopped at its first destination gives the whole tree's routes") {
  // The router stops a source's Dijkstra once the first destination asked is final, and completes the
  // tree when a second destination of that source is asked. Asking every pair destination-major (every
  // query a source's first) must give the same links as source-major (all but the first from the whole
  // tree), on fabrics with equal-cost choices: a fat tree with oversubscription, and a torus.
  const std::string torus = R"(device: d.yaml
node: {template: nvswitch_node, gpus: 2, nvlink_bandwidth_gbps: 450, nvlink_latency_us: 1,
       pcie_bandwidth_gbps: 64, pcie_latency_us: 1, nic_bandwidth_gbps: 50}
copies: 9
fabric: {template: torus, dims: [3, 3], link_bandwidth_gbps: 10, link_latency_us: 0.5}
)";
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    const auto first = which == 0 ? load_topology(config("dgx-h100-x16-ndr-oversub2.yaml")) : parse(torus);
    const auto whole = which == 0 ? load_topology(config("dgx-h100-x16-ndr-oversub2.yaml")) : parse(torus);
    const int n = first.gpu_count();
    std::vector<std::vector<LinkId>> by_dst(static_cast<std::size_t>(n * n));
    auto links = [](const Route& r) {
      std::vector<LinkId> v;
      for (const auto& h : r.hops) v.push_back(h.link);
      return v;
    };
    for (int d = 0; d < n; ++d) {
      for (int s = 0; s < n; ++s) by_dst[static_cast<std::size_t>(s * n + d)] = links(first.route(s, d));
    }
    int compared = 0;
    for (int s = 0; s < n; ++s) {
      for (int d = 0; d < n; ++d) {
        CHECK(links(whole.route(s, d)) == by_dst[static_cast<std::size_t>(s * n + d)]);
        ++compared;
      }
    }
    CHECK(compared == n * n);
  }
}
