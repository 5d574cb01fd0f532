// Placement: rank -> GPU maps and their errors.
#include <doctest/doctest.h>

#include "helpers.hpp"
#include "ringlab/topology/placement.hpp"

using namespace ringlab;
using namespace ringlab::topology;
using topo_test::config;
using topo_test::error_of;
using Kind = Placement::Kind;
using Gpus = std::vector<int>;

TEST_CASE("placement: block, round robin and list") {
  const auto c = load_topology(config("dgx-h100-x2-ndr.yaml"));
  CHECK(place(c, {Kind::block, {}}, 4) == Gpus{0, 1, 2, 3});
  CHECK(place(c, {Kind::round_robin, {}}, 4) == Gpus{0, 8, 1, 9});
  CHECK(place(c, {Kind::round_robin, {}}, 16) ==
        Gpus{0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15});
  CHECK(place(c, {Kind::list, {15, 0, 7}}, 3) == Gpus{15, 0, 7});
  const auto nvl = load_topology(config("gb200-nvl72.yaml"));  // 18 trays of 4
  const auto rr = place(nvl, {Kind::round_robin, {}}, 20);
  CHECK(rr[0] == 0);
  CHECK(rr[1] == 4);
  CHECK(rr[17] == 68);
  CHECK(rr[18] == 1);
  CHECK(rr[19] == 5);
}

TEST_CASE("placement: shared puts every rank on GPU 0, even more ranks than GPUs") {
  const auto one = load_topology(config("single-gpu-virtual.yaml"));
  CHECK(one.gpu_count() == 1);
  CHECK(place(one, {Kind::shared, {}}, 8) == Gpus(8, 0));
  CHECK(error_of([&] { (void)place(one, {Kind::block, {}}, 2, {"e.yaml", 9, "placement"}); })
            .find("e.yaml:9: field 'placement': 2 ranks do not fit on the 1 GPUs") == 0);
}

TEST_CASE("placement: round robin over uneven nodes skips full ones") {
  const auto c = topo_test::parse(R"(device: d.yaml
vertices:
  - {name: a0, kind: gpu, node: 0}
  - {name: a1, kind: gpu, node: 0}
  - {name: a2, kind: gpu, node: 0}
  - {name: b0, kind: gpu, node: 1}
  - {name: s, kind: nvswitch}
links:
  - {from: a0, to: s, kind: nvlink, bandwidth_gbps: 1, latency_us: 1}
  - {from: a1, to: s, kind: nvlink, bandwidth_gbps: 1, latency_us: 1}
  - {from: a2, to: s, kind: nvlink, bandwidth_gbps: 1, latency_us: 1}
  - {from: b0, to: s, kind: nvlink, bandwidth_gbps: 1, latency_us: 1}
)");
  CHECK(c.node_count() == 2);
  CHECK(place(c, {Kind::round_robin, {}}, 4) == Gpus{0, 3, 1, 2});
}

TEST_CASE("placement: errors name the experiment file and field") {
  const auto c = load_topology(config("dgx-h100-x2-ndr.yaml"));
  const PlacementSource at{"exp.yaml", 7};
  CHECK(error_of([&] { (void)place(c, {Kind::block, {}}, 20, at); }) ==
        "exp.yaml:7: field 'placement': 20 ranks do not fit on the 16 GPUs of topology 'dgx-h100-x2-ndr'");
  CHECK(error_of([&] { (void)place(c, {Kind::block, {}}, 0, at); }) ==
        "exp.yaml:7: field 'placement': need at least 1 rank, got 0");
  CHECK(error_of([&] { (void)place(c, {Kind::list, {0, 1}}, 3, at); }) ==
        "exp.yaml:7: field 'placement.gpus': lists 2 GPUs for 3 ranks (one GPU per rank)");
  CHECK(error_of([&] { (void)place(c, {Kind::list, {0, 1, 1}}, 3, at); }) ==
        "exp.yaml:7: field 'placement.gpus[2]': GPU 1 is already used by rank 1");
  CHECK(error_of([&] { (void)place(c, {Kind::list, {0, 16}}, 2, at); }) ==
        "exp.yaml:7: field 'placement.gpus[1]': GPU 16 does not exist (the topology has GPUs 0..15)");
  CHECK(error_of([&] { (void)place(c, {Kind::list, {-1}}, 1, {"e.yaml", 0, "experiment.placement"}); }) ==
        "e.yaml: field 'experiment.placement.gpus[0]': GPU -1 does not exist (the topology has GPUs 0..15)");
}
