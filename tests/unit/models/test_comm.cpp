// Communication and interference models: hand-derived transfer times over hand-built routes.
#include <doctest/doctest.h>

#include <array>

#include "helpers.hpp"
#include "ringlab/models/comm.hpp"
#include "ringlab/models/interference.hpp"

using namespace ringlab;
using namespace ringlab::models;
using namespace ringlab::models::test;
using topology::Hop;
using topology::LinkKind;
using topology::Route;

namespace {
constexpr Bytes k32MiB{32LL << 20};  // 33,554,432 B

Hop hop(topology::LinkId id, LinkKind kind, double gbps, double latency_us = 0) {
  return Hop{id, kind, gb_per_s(gbps), microseconds(latency_us)};
}
// GPU -> NVSwitch -> GPU inside a DGX H100 (NVLink4, 450 GB/s per direction).
Route nvswitch() { return Route{{hop(0, LinkKind::NVLink, 450), hop(1, LinkKind::NVLink, 450)}}; }
// Across two DGX H100 nodes, PXN style: GPU0 -NVLink-> NVSwitch -NVLink-> GPU1 -PCIe5-> switch -PCIe5-> NIC
// (NDR 400G, 50 GB/s) -> leaf -> spine -> leaf -> NIC -PCIe5-> switch -PCIe5-> GPU; 0.25 us per Net hop.
Route inter_node() {
  return Route{{hop(0, LinkKind::NVLink, 450), hop(1, LinkKind::NVLink, 450), hop(2, LinkKind::PCIe, 64),
                hop(3, LinkKind::PCIe, 64), hop(4, LinkKind::Net, 50, 0.25), hop(5, LinkKind::Net, 50, 0.25),
                hop(6, LinkKind::Net, 50, 0.25), hop(7, LinkKind::Net, 50, 0.25), hop(8, LinkKind::PCIe, 64),
                hop(9, LinkKind::PCIe, 64)}};
}
}  // namespace

TEST_CASE("comm: configs/models/comm-nccl.yaml equals the defaults in code") {
  CHECK(load_comm_params(repo_file("configs/models/comm-nccl.yaml")) == default_comm_params());
}

TEST_CASE("comm: 32 MiB over one NVLink4 hop") {
  const CommModel m(default_comm_params(), load_device(device_file("h100-sxm")));
  const Route one{{hop(0, LinkKind::NVLink, 450)}};
  const auto c = m.cost(k32MiB, one);
  // Simple (> 16 KiB): 8.4 us base + 3.4 us NVLink hop; 450 GB/s x 0.83 link efficiency x 1.0 = 373.5 GB/s.
  CHECK(c.protocol == Protocol::simple);
  CHECK(c.fixed_latency == microseconds(11.8));
  CHECK(c.max_rate.value == doctest::Approx(373.5e9));
  CHECK(c.wire_bytes == k32MiB);  // one stage: no pipeline fill
  // 11.8 us + 33,554,432 / 373.5e9 s = 11.8 + 89.838 = 101.638 us (busbw 330 GB/s)
  CHECK(us(c.idle_time()) == doctest::Approx(101.638).epsilon(1e-5));
  CHECK(m.idle_time(k32MiB, one) == c.idle_time());
}

TEST_CASE("comm: 32 MiB through an NVSwitch pays one 512 KiB chunk of pipeline fill") {
  const CommModel m(default_comm_params(), load_device(device_file("h100-sxm")));
  const auto c = m.cost(k32MiB, nvswitch());
  CHECK(c.fixed_latency == microseconds(11.8));  // one NCCL hop: the route's transport is NVLink
  CHECK(c.wire_bytes.value == 33554432 + 524288);
  // 11.8 + 34,078,720 / 373.5e9 = 11.8 + 91.242 = 103.042 us
  CHECK(us(c.idle_time()) == doctest::Approx(103.042).epsilon(1e-5));
}

TEST_CASE("comm: 32 MiB across nodes over NVLink + PCIe + NIC + leaf + spine") {
  const CommModel m(default_comm_params(), load_device(device_file("h100-sxm")));
  const auto route = inter_node();
  CHECK(transport_kind(route) == LinkKind::Net);
  CHECK(m.chunk(route).value == 128 * 1024);
  const auto c = m.cost(k32MiB, route);
  // Latency: 8.4 (Simple base) + 14.0 (Net hop, Simple) + 4 x 0.25 (the topology's switch hops) = 23.4 us.
  CHECK(c.fixed_latency == microseconds(23.4));
  // Capacities: NVLink 450 x 0.83 = 373.5, PCIe 64 x 0.75 = 48, Net 50 x 0.94 = 47 GB/s -> bottleneck 47.
  CHECK(c.max_rate.value == doctest::Approx(47e9));
  // Fill: 128 KiB x (2 x 47/373.5 + 4 x 47/48 + 3 x 47/47) = 131072 x 7.168340 = 939,569 B.
  CHECK(c.wire_bytes.value == 33554432 + 939569);
  // 23.4 + 34,494,001 / 47e9 = 23.4 + 733.915 = 757.315 us
  CHECK(us(c.idle_time()) == doctest::Approx(757.315).epsilon(1e-5));
  // Store-and-forward of the whole message at every hop would take sum(bytes / b_i) =
  // 33,554,432 x (2/373.5e9 + 4/48e9 + 4/47e9) = 5831.6 us: 7.7x the pipelined time.
  CHECK(us(c.idle_time()) * 7 < 5831.6);
}

TEST_CASE("comm: the protocol switches from LL to Simple above 16 KiB") {
  const CommModel m(default_comm_params(), load_device(device_file("h100-sxm")));
  const Route one{{hop(0, LinkKind::NVLink, 450)}};
  const auto ll = m.cost(Bytes(16384), one);
  CHECK(ll.protocol == Protocol::ll);
  // LL: 6.6 + 0.6 us; 373.5 GB/s x 0.5 = 186.75 GB/s; 16384 B -> 87.73 ns: 7.28773 us.
  CHECK(ll.fixed_latency == microseconds(7.2));
  CHECK(ll.max_rate.value == doctest::Approx(186.75e9));
  CHECK(us(ll.idle_time()) == doctest::Approx(7.28773).epsilon(1e-5));
  const auto simple = m.cost(Bytes(16385), one);
  CHECK(simple.protocol == Protocol::simple);
  // Simple: 11.8 us + 16385 / 373.5e9 = 11.84387 us.
  CHECK(us(simple.idle_time()) == doctest::Approx(11.84387).epsilon(1e-5));
  // LL128 on NVLink when enabled: 14.0 + 1.9 us, 373.5 x 0.92 = 343.62 GB/s.
  auto p = default_comm_params();
  p.ll128_on_nvlink = true;
  const CommModel m128(p, load_device(device_file("h100-sxm")));
  const auto c128 = m128.cost(k32MiB, one);
  CHECK(c128.protocol == Protocol::ll128);
  CHECK(c128.fixed_latency == microseconds(15.9));
  CHECK(c128.max_rate.value == doctest::Approx(343.62e9));
  CHECK(m128.protocol_for(k32MiB, inter_node()) == Protocol::simple);  // LL128 only on all-NVLink routes
}

TEST_CASE("comm: a transfer within one GPU is an HBM copy") {
  const CommModel m(default_comm_params(), load_device(device_file("h100-sxm")));
  const auto c = m.cost(k32MiB, Route{});
  // Launch 3 us; 3350 x 0.9 / 2 (read + write) = 1507.5 GB/s: 3 + 22.258 = 25.258 us.
  CHECK(c.fixed_latency == microseconds(3));
  CHECK(c.max_rate.value == doctest::Approx(1507.5e9));
  CHECK(us(c.idle_time()) == doctest::Approx(25.258).epsilon(1e-4));
  CHECK(m.cost(Bytes(0), Route{}).idle_time() == microseconds(3));
}

TEST_CASE("comm: link capacity is what the simulator shares among flows") {
  const CommModel m(default_comm_params(), load_device(device_file("h100-sxm")));
  CHECK(m.link_capacity(hop(0, LinkKind::NVLink, 450)).value == doctest::Approx(373.5e9));
  CHECK(m.link_capacity(hop(0, LinkKind::PCIe, 16)).value == doctest::Approx(12e9));  // NCCL's PCIe gen3 model
  CHECK(m.link_capacity(hop(0, LinkKind::Net, 50)).value == doctest::Approx(47e9));
}

TEST_CASE("comm: malformed comm files name file, line and field") {
  const std::string path = repo_file("configs/models/comm-nccl.yaml");
  CHECK(input_error_of([] { (void)parse_comm_params("ll_threshold_bytes: 16384\n", "c.yaml"); }) ==
        "c.yaml:1:1: missing required field 'll128_on_nvlink'");
  const std::string good =
      "ll_threshold_bytes: 16384\nll128_on_nvlink: false\n"
      "protocols:\n  ll: {base_latency_us: 6.6, efficiency: 0.5}\n"
      "  ll128: {base_latency_us: 14, efficiency: 0.92}\n  simple: {base_latency_us: 8.4, efficiency: 1}\n"
      "links:\n"
      "  nvlink: {latency_us: {ll: 0.6, ll128: 1.9, simple: 3.4}, efficiency: 0.83, chunk_kib: 512}\n"
      "  pcie: {latency_us: {ll: 1, ll128: 2.5, simple: 5.7}, efficiency: 0.75, chunk_kib: 128}\n"
      "  c2c: {latency_us: {ll: 0.6, ll128: 1.9, simple: 3.4}, efficiency: 0.83, chunk_kib: 512}\n"
      "  net: {latency_us: {ll: 2.7, ll128: 4, simple: 14}, efficiency: 0.94, chunk_kib: 128}\n"
      "interference: {nvlink: 1.1, pcie: 1.03, c2c: 1.1, net: 1.03, local: 1.05}\n";
  CHECK(parse_comm_params(good, "c.yaml") == default_comm_params());
  auto bad = good;
  bad.replace(bad.find("nvlink: 1.1"), 11, "nvlink: 0.9");
  CHECK(input_error_of([&] { (void)parse_comm_params(bad, "c.yaml"); }) ==
        "c.yaml:12:24: field 'interference.nvlink': must be a factor in [1, 10] (1 = no interference), got 0.9");
  bad = good;
  bad.replace(bad.find("efficiency: 0.75"), 16, "efficiency: -0.75");
  CHECK(input_error_of([&] { (void)parse_comm_params(bad, "c.yaml"); }) ==
        "c.yaml:9:68: field 'links.pcie.efficiency': must be greater than 0, got -0.75");
  CHECK(input_error_of([&] { (void)parse_comm_params(good + "nics: 8\n", "c.yaml"); }).find("unknown key 'nics'") !=
        std::string::npos);
}

TEST_CASE("interference: compute slows by the factor of the transport of the transfers in flight") {
  const InterferenceModel im(default_comm_params());
  CHECK(im.compute_slowdown(nvswitch()) == 1.10);
  CHECK(im.compute_slowdown(inter_node()) == 1.03);
  CHECK(im.compute_slowdown(Route{}) == 1.05);
  CHECK(im.compute_slowdown(LinkKind::PCIe) == 1.03);
  const std::array<double, 3> inflight{1.03, 1.10, 1.05};
  CHECK(InterferenceModel::combine(inflight) == 1.10);  // the largest, not the product
  CHECK(InterferenceModel::combine({}) == 1.0);
  // An 841.115 us attention block fully overlapped by an NVLink transfer takes 925.227 us.
  CHECK(841.115 * im.compute_slowdown(nvswitch()) == doctest::Approx(925.2265));
}
