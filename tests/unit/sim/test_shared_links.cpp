// Contention through real cluster graphs (topology routing + the flow network): a NIC shared by two
// ring flows, and a PCIe switch uplink to the host bridge shared by two GPUs with P2P off.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <vector>

#include "helpers.hpp"
#include "ringlab/sim/adapters.hpp"
#include "ringlab/topology/cluster.hpp"

using namespace ringlab;
using namespace ringlab::sim;
using namespace ringlab::sim::testing;
using topology::DeviceKind;
using topology::LinkKind;

namespace {
constexpr Time kTiny{1};  // 1 ps per hop: latency is negligible next to the microseconds of data below

/// Two nodes of two GPUs. `nics_per_node` = 1: both GPUs of a node reach the switch through one NIC
/// (50 GB/s); 2: a NIC each. PCIe GPU-NIC links at 64 GB/s, so the NIC's 50 GB/s is the bottleneck.
topology::Cluster two_nodes(int nics_per_node) {
  topology::ClusterBuilder b;
  const auto sw = b.add_vertex("switch", DeviceKind::Switch);
  for (int n = 0; n < 2; ++n) {
    std::vector<topology::VertexId> nics;
    for (int k = 0; k < nics_per_node; ++k) {
      nics.push_back(b.add_vertex(fmt::format("n{}.nic{}", n, k), DeviceKind::NIC));
      b.add_link(nics.back(), sw, LinkKind::Net, gb_per_s(50), kTiny);
    }
    for (int g = 0; g < 2; ++g) {
      const auto gpu = b.add_vertex(fmt::format("n{}.gpu{}", n, g), DeviceKind::GPU, n);
      b.add_link(gpu, nics[static_cast<std::size_t>(g % nics_per_node)], LinkKind::PCIe, gb_per_s(64), kTiny);
    }
  }
  return b.build();
}

/// A host bridge (CPU) with a PCIe switch holding GPUs 0 and 1 and GPU 2 directly below the CPU; P2P
/// off, so every transfer crosses the CPU. The switch's uplink has `uplink` GB/s, the GPU links 16.
topology::Cluster host_bridge(double uplink) {
  topology::ClusterBuilder b;
  const auto cpu = b.add_vertex("cpu", DeviceKind::CPU);
  const auto sw = b.add_vertex("pcie_switch", DeviceKind::PCIeSwitch);
  b.add_link(sw, cpu, LinkKind::PCIe, gb_per_s(uplink), kTiny);
  for (int g = 0; g < 3; ++g) {
    const auto gpu = b.add_vertex(fmt::format("gpu{}", g), DeviceKind::GPU, 0);
    b.set_p2p(gpu, false);
    b.add_link(gpu, g < 2 ? sw : cpu, LinkKind::PCIe, gb_per_s(16), kTiny);
  }
  return b.build();
}

/// A transfer-bound MHA ring (see helpers.hpp: a K,V block is 512 c bytes, compute 512 c^2 ps at 1 TF).
SimResult run_ring(const topology::Cluster& c, std::int32_t P, std::vector<std::int32_t> placement) {
  const std::int64_t chunk = 1000;  // 512 kB per block; compute 0.512 us, far below any transfer here
  const auto s = make(mha(P * chunk), "ring", P);
  const SimpleCostModel cost(unit_params());
  const ClusterPlatform platform(c);
  return simulate(s, platform, std::move(placement), cost);
}
}  // namespace

TEST_CASE("two ring flows through one NIC each get half of it") {
  // Ring of 4 placed n0.gpu0, n1.gpu0, n0.gpu1, n1.gpu1: every hop crosses nodes, and each node sends
  // two flows (and receives two). With one NIC per node they share its 50 GB/s: a 512 kB block takes
  // 512e3 / 25e9 = 20.48 us. With a NIC per GPU each flow has 50 GB/s: 10.24 us.
  const std::vector<std::int32_t> rr = {0, 2, 1, 3};
  const auto shared = run_ring(two_nodes(1), 4, rr);
  const auto own = run_ring(two_nodes(2), 4, rr);
  for (std::uint32_t p = 0; p < 3; ++p) {
    CAPTURE(p);
    CHECK(to_seconds(own.phases[p].comm) == doctest::Approx(10.24e-6).epsilon(1e-6));
    CHECK(to_seconds(shared.phases[p].comm) == doctest::Approx(20.48e-6).epsilon(1e-6));
  }
  REQUIRE(shared.busiest.has_value());
  CHECK(shared.busiest->usage.kind == LinkKind::Net);
  CHECK(shared.busiest->utilisation > 0.99 * own.busiest->utilisation);
}

TEST_CASE("a PCIe switch uplink to the host bridge shared by two GPUs halves their transfers") {
  // Ring of 3 on gpu0, gpu1 (under the switch) and gpu2 (under the CPU), P2P off. Flows: 0->1 crosses
  // the uplink up and down, 1->2 up, 2->0 down: two flows each way on the uplink. With a 16 GB/s
  // uplink each gets 8 GB/s: 512e3 / 8e9 = 64 us per step. With a 32 GB/s uplink the GPUs' own
  // 16 GB/s links are the limit: 32 us.
  const auto shared = run_ring(host_bridge(16), 3, {0, 1, 2});
  const auto wide = run_ring(host_bridge(32), 3, {0, 1, 2});
  for (std::uint32_t p = 0; p < 2; ++p) {
    CAPTURE(p);
    CHECK(to_seconds(shared.phases[p].comm) == doctest::Approx(64e-6).epsilon(1e-6));
    CHECK(to_seconds(wide.phases[p].comm) == doctest::Approx(32e-6).epsilon(1e-6));
  }
  // Every route between the GPUs goes through the CPU.
  CHECK(host_bridge(16).route(0, 1).hops.size() == 4);
}
