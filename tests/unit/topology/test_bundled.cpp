// Every bundled topology loads, with hand-counted GPUs, nodes, vertices, links and bisection.
#include <doctest/doctest.h>

#include <array>
#include <filesystem>

#include "helpers.hpp"
#include "ringlab/topology/summary.hpp"

using namespace ringlab;
using namespace ringlab::topology;
using topo_test::config;

namespace {
struct Expect {
  const char* file;
  const char* device;
  int gpus, nodes;
  std::size_t vertices, nvlink, pcie, c2c, net;  // vertices; full-duplex links per kind
  double bisection_gbps;                          // GPUs [0, N/2) -> [N/2, N), per direction
};

// Vertices: nvswitch_node copy = 8 GPU + 1 NVSwitch + 8 NIC = 17; a rail fabric adds 8 leaves per
// leaf group plus the spines. Net links: one per NIC plus leaves x spines. Bisection: inside a node,
// 4 GPUs' NVLink (4 x per-GPU rate); across node halves, (N/2) NICs x NIC rate when non-blocking.
constexpr std::array<Expect, 13> kBundled{{
    {"dgx-a100.yaml", "a100-sxm-80gb.yaml", 8, 1, 17, 8, 8, 0, 0, 4 * 300.0},
    {"dgx-h100.yaml", "h100-sxm.yaml", 8, 1, 17, 8, 8, 0, 0, 4 * 450.0},
    {"hgx-h200.yaml", "h200.yaml", 8, 1, 17, 8, 8, 0, 0, 4 * 450.0},
    {"dgx-h800.yaml", "h800.yaml", 8, 1, 17, 8, 8, 0, 0, 4 * 200.0},
    {"dgx-b200.yaml", "b200.yaml", 8, 1, 17, 8, 8, 0, 0, 4 * 900.0},
    // 72 GPU + 1 NVLink switch + 36 Grace + 72 NIC; 36 GPUs x 900 cross the middle.
    {"gb200-nvl72.yaml", "gb200.yaml", 72, 18, 181, 72, 72, 72, 0, 36 * 900.0},
    // 2 GPUs + CPU; the one GPU0 -> CPU link (16) limits the cut.
    {"gtx1080x2-pcie3.yaml", "gtx1080.yaml", 2, 1, 3, 0, 2, 0, 0, 16.0},
    {"dgx-h100-x2-ndr.yaml", "h100-sxm.yaml", 16, 2, 2 * 17 + 8 + 2, 16, 16, 0, 16 + 8 * 2, 8 * 50.0},
    {"dgx-h100-x4-ndr.yaml", "h100-sxm.yaml", 32, 4, 4 * 17 + 8 + 4, 32, 32, 0, 32 + 8 * 4, 16 * 50.0},
    {"dgx-h100-x16-ndr.yaml", "h100-sxm.yaml", 128, 16, 16 * 17 + 8 + 8, 128, 128, 0, 128 + 8 * 8, 64 * 50.0},
    {"dgx-a100-x16-hdr.yaml", "a100-sxm-80gb.yaml", 128, 16, 16 * 17 + 8 + 8, 128, 128, 0, 128 + 8 * 8, 64 * 25.0},
    // 4 leaf groups x 8 rails = 32 leaves, 16 spines.
    {"dgx-h100-x128-ndr.yaml", "h100-sxm.yaml", 1024, 128, 128 * 17 + 32 + 16, 1024, 1024, 0, 1024 + 32 * 16,
     512 * 50.0},
    // 4 leaves + 4 spines; leaves 0-1 hold GPUs 0-63 and send 2 x (1600 / 2) up.
    {"dgx-h100-x16-ndr-oversub2.yaml", "h100-sxm.yaml", 128, 16, 16 * 17 + 4 + 4, 128, 128, 0, 128 + 4 * 4, 1600.0},
}};
}  // namespace

TEST_CASE("bundled topologies: counts, device paths and bisection") {
  for (const auto& e : kBundled) {
    CAPTURE(e.file);
    const auto c = load_topology(config(e.file));
    CHECK(c.gpu_count() == e.gpus);
    CHECK(c.node_count() == e.nodes);
    CHECK(c.vertex_count() == e.vertices);
    std::array<std::size_t, 4> kinds{};
    for (std::size_t i = 0; i < c.edge_count(); ++i) ++kinds[static_cast<std::size_t>(c.link(static_cast<LinkId>(2 * i)).kind)];
    CHECK(kinds[0] == e.nvlink);
    CHECK(kinds[1] == e.pcie);
    CHECK(kinds[2] == e.c2c);
    CHECK(kinds[3] == e.net);
    CHECK(c.link_count() == 2 * c.edge_count());
    const std::filesystem::path dev(c.device_spec());
    CHECK(dev.is_absolute());
    CHECK(dev == std::filesystem::path(RINGLAB_SOURCE_DIR) / "configs/devices" / e.device);
    CHECK(c.device_spec_line() > 0);
    if (e.gpus <= 128) CHECK(bisection_bandwidth(c).bandwidth.value == doctest::Approx(e.bisection_gbps * 1e9));
  }
}

TEST_CASE("bundled topologies: 1024-GPU bisection and node numbering") {
  const auto c = load_topology(config("dgx-h100-x128-ndr.yaml"));
  // Leaves of scalable units 0-1 (16 leaves x 32 NICs x 50 GB/s) face the spines non-blocking.
  CHECK(bisection_bandwidth(c).bandwidth.value == doctest::Approx(25600e9));
  CHECK(c.node_of(0) == 0);
  CHECK(c.node_of(1023) == 127);
  CHECK(c.gpus_of_node(5).size() == 8);
  CHECK(c.gpus_of_node(5)[0] == 40);
  CHECK(c.vertex_name(c.gpu_vertex(1023)) == "n127.gpu7");
}

TEST_CASE("fat tree: 2:1 oversubscription halves the bisection of the non-blocking tree") {
  const auto oversub = load_topology(config("dgx-h100-x16-ndr-oversub2.yaml"));
  const auto flat = load_topology(config("dgx-h100-x16-ndr-oversub2.yaml"), {"fabric.oversubscription=1:1"});
  CHECK(bisection_bandwidth(flat).bandwidth.value == doctest::Approx(3200e9));
  CHECK(bisection_bandwidth(oversub).bandwidth.value == doctest::Approx(0.5 * bisection_bandwidth(flat).bandwidth.value));
  // Leaf-spine links: 32 NICs x 50 GB/s / 2 / 4 spines = 200 GB/s each (1:1 gives 400).
  const auto leaf = oversub.find_vertex("leaf0");
  REQUIRE(leaf);
  int uplinks = 0;
  for (LinkId l = 0; l < oversub.link_count(); ++l) {
    const auto li = oversub.link(l);
    if (li.from == *leaf && li.to_name.rfind("spine", 0) == 0) {
      ++uplinks;
      CHECK(li.bandwidth.value == doctest::Approx(200e9));
    }
  }
  CHECK(uplinks == 4);
}
