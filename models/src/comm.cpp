#include "ringlab/models/comm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"

namespace ringlab::models {

namespace {

using topology::LinkKind;

constexpr std::array<std::string_view, 3> kProtocolNames{"ll", "ll128", "simple"};
constexpr std::array<std::string_view, 4> kLinkNames{"nvlink", "pcie", "c2c", "net"};  // LinkKind order

constexpr std::size_t idx(Protocol p) noexcept { return static_cast<std::size_t>(p); }
constexpr std::size_t idx(LinkKind k) noexcept { return static_cast<std::size_t>(k); }

// How "slow" a link class is for picking a route's transport: NVLink < C2C < PCIe < Net.
constexpr int transport_rank(LinkKind k) noexcept {
  switch (k) {
    case LinkKind::NVLink: return 0;
    case LinkKind::C2C: return 1;
    case LinkKind::PCIe: return 2;
    case LinkKind::Net: return 3;
  }
  return 3;
}

LinkParams link(std::array<double, 3> lat_us, double efficiency, std::int64_t chunk_kib) {
  LinkParams p;
  for (std::size_t i = 0; i < 3; ++i) p.latency[i] = microseconds(lat_us[i]);
  p.efficiency = efficiency;
  p.chunk = Bytes(chunk_kib * 1024);
  return p;
}

double read_fraction(const YamlNode& n) {
  const double v = n.as_positive_double();
  if (v > 1.0) n.fail(fmt::format("must be a fraction in (0, 1], got {}", v));
  return v;
}
Time read_latency_us(const YamlNode& n) {
  const double v = n.as_double();
  if (v < 0) n.fail(fmt::format("must be >= 0 microseconds, got {}", v));
  return microseconds(v);
}
double read_slowdown(const YamlNode& n) {
  const double v = n.as_double();
  if (v < 1.0 || v > 10.0) n.fail(fmt::format("must be a factor in [1, 10] (1 = no interference), got {}", v));
  return v;
}

CommParams read_params(const YamlDocument& doc) {
  const auto root = doc.root();
  root.check_keys({"ll_threshold_bytes", "ll128_on_nvlink", "protocols", "links", "interference"});
  CommParams p;
  p.ll_threshold = Bytes(root.at("ll_threshold_bytes").as_int(0, std::int64_t{1} << 30));
  p.ll128_on_nvlink = root.at("ll128_on_nvlink").as_bool();
  const auto protos = root.at("protocols");
  protos.check_keys(kProtocolNames);
  for (std::size_t i = 0; i < kProtocolNames.size(); ++i) {
    const auto n = protos.at(kProtocolNames[i]);
    n.check_keys({"base_latency_us", "efficiency"});
    p.base_latency[i] = read_latency_us(n.at("base_latency_us"));
    p.protocol_efficiency[i] = read_fraction(n.at("efficiency"));
  }
  const auto links = root.at("links");
  links.check_keys(kLinkNames);
  for (std::size_t k = 0; k < kLinkNames.size(); ++k) {
    const auto n = links.at(kLinkNames[k]);
    n.check_keys({"latency_us", "efficiency", "chunk_kib"});
    const auto lat = n.at("latency_us");
    lat.check_keys(kProtocolNames);
    for (std::size_t i = 0; i < kProtocolNames.size(); ++i) {
      p.links[k].latency[i] = read_latency_us(lat.at(kProtocolNames[i]));
    }
    p.links[k].efficiency = read_fraction(n.at("efficiency"));
    p.links[k].chunk = Bytes(n.at("chunk_kib").as_int(1, 1 << 20) * 1024);
  }
  const auto inter = root.at("interference");
  inter.check_keys({"nvlink", "pcie", "c2c", "net", "local"});
  for (std::size_t k = 0; k < kLinkNames.size(); ++k) p.compute_slowdown[k] = read_slowdown(inter.at(kLinkNames[k]));
  p.local_copy_slowdown = read_slowdown(inter.at("local"));
  return p;
}

}  // namespace

const char* protocol_name(Protocol p) noexcept { return kProtocolNames[idx(p)].data(); }
const char* link_kind_name(LinkKind k) noexcept { return kLinkNames[idx(k)].data(); }

CommParams default_comm_params() {
  // Keep identical to configs/models/comm-nccl.yaml (tests/unit/models checks it); sources there.
  CommParams p;
  p.ll_threshold = Bytes(16384);
  p.ll128_on_nvlink = false;
  p.base_latency = {microseconds(6.6), microseconds(14.0), microseconds(8.4)};
  p.protocol_efficiency = {0.5, 0.92, 1.0};
  p.links[idx(LinkKind::NVLink)] = link({0.6, 1.9, 3.4}, 0.83, 512);
  p.links[idx(LinkKind::PCIe)] = link({1.0, 2.5, 5.7}, 0.75, 128);
  p.links[idx(LinkKind::C2C)] = link({0.6, 1.9, 3.4}, 0.83, 512);
  p.links[idx(LinkKind::Net)] = link({2.7, 4.0, 14.0}, 0.94, 128);
  p.compute_slowdown[idx(LinkKind::NVLink)] = 1.10;
  p.compute_slowdown[idx(LinkKind::PCIe)] = 1.03;
  p.compute_slowdown[idx(LinkKind::C2C)] = 1.10;
  p.compute_slowdown[idx(LinkKind::Net)] = 1.03;
  p.local_copy_slowdown = 1.05;
  return p;
}

CommParams load_comm_params(const std::string& path) { return read_params(YamlDocument::load_file(path)); }

CommParams parse_comm_params(const std::string& text, const std::string& label) {
  return read_params(YamlDocument::parse(text, label));
}

LinkKind transport_kind(const topology::Route& route) noexcept {
  LinkKind worst = LinkKind::NVLink;
  for (const auto& h : route.hops) {
    if (transport_rank(h.kind) > transport_rank(worst)) worst = h.kind;
  }
  return worst;
}

CommModel::CommModel(CommParams params, const DeviceSpec& device)
    : params_(std::move(params)),
      local_rate_(device.streaming_bandwidth() * 0.5),
      local_latency_(device.launch_overhead) {}

Protocol CommModel::protocol_for(Bytes bytes, const topology::Route& route) const noexcept {
  if (bytes <= params_.ll_threshold) return Protocol::ll;
  if (params_.ll128_on_nvlink && !route.hops.empty() && transport_kind(route) == LinkKind::NVLink) {
    return Protocol::ll128;
  }
  return Protocol::simple;
}

Bandwidth CommModel::link_capacity(const topology::Hop& hop) const noexcept {
  return hop.bandwidth * params_.links[idx(hop.kind)].efficiency;
}

Bytes CommModel::chunk(const topology::Route& route) const noexcept {
  return params_.links[idx(transport_kind(route))].chunk;
}

TransferCost CommModel::cost(Bytes bytes, const topology::Route& route) const {
  if (bytes.value < 0) throw Error(fmt::format("a transfer of {} bytes is impossible", bytes.value));
  if (route.hops.empty()) return {local_latency_, local_rate_, bytes, Protocol::simple};

  TransferCost c;
  c.protocol = protocol_for(bytes, route);
  const LinkKind transport = transport_kind(route);
  c.fixed_latency = params_.base_latency[idx(c.protocol)] + params_.links[idx(transport)].latency[idx(c.protocol)];
  std::size_t slowest = 0;
  for (std::size_t i = 0; i < route.hops.size(); ++i) {
    c.fixed_latency += route.hops[i].latency;
    if (link_capacity(route.hops[i]) < link_capacity(route.hops[slowest])) slowest = i;
  }
  const Bandwidth bottleneck = link_capacity(route.hops[slowest]);
  if (!(bottleneck.value > 0)) {
    throw Error(fmt::format("route hop {} (link {}) has no bandwidth", slowest, route.hops[slowest].link));
  }
  c.max_rate = bottleneck * params_.protocol_efficiency[idx(c.protocol)];
  // Chunked pipeline: stage i forwards a chunk once it holds it whole, so the message takes
  // bytes/b_min + sum over the other stages of chunk/b_i; written as extra bytes at the bottleneck rate.
  const double chunk_bytes = static_cast<double>(std::min(chunk(route), bytes).value);
  double fill = 0;
  for (std::size_t i = 0; i < route.hops.size(); ++i) {
    if (i != slowest) fill += chunk_bytes * (bottleneck / link_capacity(route.hops[i]));
  }
  c.wire_bytes = bytes + Bytes(std::llround(fill));
  return c;
}

}  // namespace ringlab::models
