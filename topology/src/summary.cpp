// The topology summary: counts, injection and bisection bandwidth, a route hop by hop, and DOT output.
#include "ringlab/topology/summary.hpp"

#include <boost/graph/graphviz.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <ostream>
#include <string_view>

#include "cluster_impl.hpp"

namespace ringlab::topology {

namespace {

// "450", "12.5", "0.125": at most 3 decimals, no trailing zeros.
std::string number(double x) {
  auto s = fmt::format("{:.3f}", x);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}
std::string gbs(Bandwidth b) { return number(b.value / 1e9) + " GB/s"; }
std::string micro(Time t) { return number(to_seconds(t) * 1e6) + " us"; }
std::string span_text(double lo, double hi, auto fmt_one) {
  return lo == hi ? fmt_one(lo) : fmt_one(lo) + " - " + fmt_one(hi);
}

// Port rate of a NIC: its declared rate, else the sum of its network links.
Bandwidth nic_rate(const Cluster& c, VertexId nic) {
  const auto& info = c.vertex(nic);
  if (info.port_bandwidth.value > 0) return info.port_bandwidth;
  const auto& g = c.impl().graph;
  Bandwidth sum(0);
  for (auto [it, end] = boost::out_edges(nic, g); it != end; ++it) {
    const auto& p = g[*it];
    if (p.kind == LinkKind::Net) sum += detail::directed_bandwidth(p, nic);
  }
  return sum;
}

// Vertices reachable from `start` on the host side (never through a GPU other than `start`, never past
// a NIC or onto the network), in BFS order.
std::vector<VertexId> host_reach(const Cluster& c, VertexId start) {
  const auto& g = c.impl().graph;
  std::vector<bool> seen(c.vertex_count(), false);
  std::vector<VertexId> order{start};
  seen[start] = true;
  for (std::size_t head = 0; head < order.size(); ++head) {
    const VertexId u = order[head];
    const auto kind = g[u].kind;
    if (head > 0 && (kind == DeviceKind::GPU || kind == DeviceKind::NIC)) continue;  // endpoints
    for (auto [it, end] = boost::out_edges(u, g); it != end; ++it) {
      const auto& p = g[*it];
      if (p.kind == LinkKind::Net) continue;
      const auto v = static_cast<VertexId>(boost::target(*it, g));
      if (!seen[v]) {
        seen[v] = true;
        order.push_back(v);
      }
    }
  }
  return order;
}

}  // namespace

Injection injection_bandwidth(const Cluster& c, int gpu) {
  const auto& g = c.impl().graph;
  const VertexId v = c.gpu_vertex(gpu);
  Injection out;
  for (auto [it, end] = boost::out_edges(v, g); it != end; ++it) {
    const auto& p = g[*it];
    const Bandwidth bw = detail::directed_bandwidth(p, v);
    if (p.kind == LinkKind::NVLink) out.nvlink += bw;
    if (p.kind == LinkKind::PCIe || p.kind == LinkKind::C2C) out.host += bw;
  }
  for (const VertexId u : host_reach(c, v)) {
    if (g[u].kind != DeviceKind::NIC) continue;
    int sharers = 0;
    for (const VertexId w : host_reach(c, u)) sharers += g[w].kind == DeviceKind::GPU ? 1 : 0;
    out.network += Bandwidth(nic_rate(c, u).value / std::max(sharers, 1));
  }
  return out;
}

Bisection bisection_bandwidth(const Cluster& c) {
  using namespace boost;
  using Traits = adjacency_list_traits<vecS, vecS, directedS>;
  using FlowGraph = adjacency_list<
      vecS, vecS, directedS, no_property,
      property<edge_capacity_t, long, property<edge_residual_capacity_t, long, property<edge_reverse_t, Traits::edge_descriptor>>>>;
  Bisection out;
  const int n = c.gpu_count();
  out.b_first = n / 2;
  out.a_first = 0;
  if (n < 2) return out;
  const auto& g = c.impl().graph;
  const auto nv = c.vertex_count();
  // Vertex v is flow vertex v; a NIC also gets nv + v for its network->host direction (v itself is the
  // host->network direction), so no flow crosses a NIC host->host or network->network.
  const auto source = 2 * nv;
  const auto sink = 2 * nv + 1;
  FlowGraph f(2 * nv + 2);
  auto cap = get(edge_capacity, f);
  auto rev = get(edge_reverse, f);
  const auto add = [&](std::size_t u, std::size_t v, long capacity) {
    const auto e = add_edge(u, v, f).first;
    const auto r = add_edge(v, u, f).first;
    cap[e] = capacity;
    cap[r] = 0;
    rev[e] = r;
    rev[r] = e;
  };
  const auto side_a = [&](VertexId v) { return g[v].kind == DeviceKind::GPU && g[v].gpu < out.b_first; };
  const auto side_b = [&](VertexId v) { return g[v].kind == DeviceKind::GPU && g[v].gpu >= out.b_first; };
  long total = 1;
  for (std::size_t l = 0; l < c.link_count(); ++l) {
    const LinkInfo li = c.link(static_cast<LinkId>(l));
    if (side_b(li.from) || side_a(li.to)) continue;  // GPUs only send (A) or receive (B)
    const bool net = li.kind == LinkKind::Net;
    std::size_t u = li.from;
    std::size_t v = li.to;
    if (g[li.from].kind == DeviceKind::NIC && !net) u = nv + li.from;  // leaving a NIC towards its host
    if (g[li.to].kind == DeviceKind::NIC && net) v = nv + li.to;       // entering a NIC from the network
    const long capacity = std::lround(li.bandwidth.value);
    total += capacity;
    add(u, v, capacity);
  }
  for (int i = 0; i < n; ++i) {
    const VertexId v = c.gpu_vertex(i);
    if (i < out.b_first) add(source, v, total);
    else add(v, sink, total);
  }
  out.bandwidth = Bandwidth(static_cast<double>(push_relabel_max_flow(f, source, sink)));
  return out;
}

namespace {
// A path as the user would type it: relative to the current directory when it lies inside it (the
// loader keeps paths absolute), else as it is.
std::string display_path(const std::string& p) {
  std::error_code ec;
  const auto cwd = std::filesystem::current_path(ec);
  if (ec) return p;
  const auto rel = std::filesystem::path(p).lexically_proximate(cwd);
  const std::string r = rel.generic_string();
  return r.empty() || rel.is_absolute() || r.rfind("..", 0) == 0 ? p : r;
}
}  // namespace

std::string summary_text(const Cluster& c, std::optional<std::pair<int, int>> pair) {
  std::string s;
  const auto line = [&](std::string_view key, const std::string& value) { s += fmt::format("{:<11} {}\n", key, value); };
  line("topology", c.source_file().empty() ? c.name() : c.source_file());
  line("name", c.name());
  line("device", c.device_spec().empty() ? "(none)" : display_path(c.device_spec()));

  std::size_t lo = SIZE_MAX;
  std::size_t hi = 0;
  for (int n = 0; n < c.node_count(); ++n) {
    lo = std::min(lo, c.gpus_of_node(n).size());
    hi = std::max(hi, c.gpus_of_node(n).size());
  }
  line("GPUs", fmt::format("{} in {} node{} ({} per node)", c.gpu_count(), c.node_count(), c.node_count() == 1 ? "" : "s",
                           lo == hi ? fmt::format("{}", lo) : fmt::format("{}-{}", lo, hi)));

  std::array<std::size_t, 6> vk{};
  for (VertexId v = 0; v < c.vertex_count(); ++v) ++vk[static_cast<std::size_t>(c.vertex(v).kind)];
  std::string parts;
  for (std::size_t k = 0; k < vk.size(); ++k) {
    if (vk[k] == 0) continue;
    parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", vk[k], to_string(static_cast<DeviceKind>(k)));
  }
  line("vertices", fmt::format("{}: {}", c.vertex_count(), parts));

  std::array<std::size_t, 4> lk{};
  for (std::size_t e = 0; e < c.edge_count(); ++e) ++lk[static_cast<std::size_t>(c.link(static_cast<LinkId>(2 * e)).kind)];
  parts.clear();
  for (std::size_t k = 0; k < lk.size(); ++k) {
    parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", lk[k], to_string(static_cast<LinkKind>(k)));
  }
  line("links", fmt::format("{} full duplex ({} directed link ids): {}", c.edge_count(), c.link_count(), parts));

  double nv_lo = INFINITY, nv_hi = 0, host_lo = INFINITY, host_hi = 0, net_lo = INFINITY, net_hi = 0;
  for (int i = 0; i < c.gpu_count(); ++i) {
    const auto inj = injection_bandwidth(c, i);
    nv_lo = std::min(nv_lo, inj.nvlink.value);
    nv_hi = std::max(nv_hi, inj.nvlink.value);
    host_lo = std::min(host_lo, inj.host.value);
    host_hi = std::max(host_hi, inj.host.value);
    net_lo = std::min(net_lo, inj.network.value);
    net_hi = std::max(net_hi, inj.network.value);
  }
  const auto as_gbs = [](double x) { return gbs(Bandwidth(x)); };
  line("injection", fmt::format("per GPU, per direction: NVLink {}, PCIe/C2C {}, network {} (share of reachable NICs)",
                                span_text(nv_lo, nv_hi, as_gbs), span_text(host_lo, host_hi, as_gbs),
                                span_text(net_lo, net_hi, as_gbs)));

  const auto bis = bisection_bandwidth(c);
  if (c.gpu_count() < 2) {
    line("bisection", "n/a (one GPU)");
  } else {
    const auto range = [](int lo_gpu, int hi_gpu) {
      return lo_gpu == hi_gpu ? fmt::format("GPU {}", lo_gpu) : fmt::format("GPUs {}-{}", lo_gpu, hi_gpu);
    };
    line("bisection", fmt::format("{} per direction (max-flow from {} to {})", gbs(bis.bandwidth),
                                  range(0, bis.b_first - 1), range(bis.b_first, c.gpu_count() - 1)));
  }

  if (pair) {
    const auto [a, b] = *pair;
    const Route r = c.route(a, b);
    const auto name = [&](int gpu) { return c.vertex_name(c.gpu_vertex(gpu)); };
    line("route", fmt::format("GPU {} ({}) -> GPU {} ({}): {} hop{}, latency {}, bottleneck {}", a, name(a), b, name(b),
                              r.hops.size(), r.hops.size() == 1 ? "" : "s", micro(r.latency()), gbs(r.bottleneck())));
    bool marked = false;
    for (std::size_t i = 0; i < r.hops.size(); ++i) {
      const auto& h = r.hops[i];
      const LinkInfo li = c.link(h.link);
      const bool is_bottleneck = !marked && h.bandwidth == r.bottleneck();
      marked = marked || is_bottleneck;
      s += fmt::format("  {:>2}  {:<28} {:<7} {:>12} {:>10}{}\n", i + 1, fmt::format("{} -> {}", li.from_name, li.to_name),
                       to_string(h.kind), gbs(h.bandwidth), micro(h.latency), is_bottleneck ? "  <- bottleneck" : "");
    }
  }
  return s;
}

namespace {
struct VertexWriter {
  const detail::Graph* g;
  void operator()(std::ostream& out, detail::Graph::vertex_descriptor v) const {
    const auto& info = (*g)[v];
    const char* shape = "ellipse";
    switch (info.kind) {
      case DeviceKind::GPU: shape = "box"; break;
      case DeviceKind::NVSwitch:
      case DeviceKind::PCIeSwitch: shape = "hexagon"; break;
      case DeviceKind::CPU: shape = "octagon"; break;
      case DeviceKind::NIC: shape = "cds"; break;
      case DeviceKind::Switch: shape = "diamond"; break;
    }
    out << fmt::format("[label=\"{}\", shape={}, tooltip=\"{}\"]", info.name, shape, to_string(info.kind));
  }
};
// A DOT quoted string's content: the topology's name comes from the user's file (a quote in it ended
// the string early); a backslash would start a DOT escape.
std::string dot_quoted(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' || c == '\r' ? ' ' : c;
  }
  return out;
}
struct EdgeWriter {
  const detail::Graph* g;
  void operator()(std::ostream& out, detail::Edge e) const {
    const auto& p = (*g)[e];
    const auto bw = p.a_to_b == p.b_to_a ? gbs(p.a_to_b) : fmt::format("{} / {}", gbs(p.a_to_b), gbs(p.b_to_a));
    out << fmt::format("[label=\"{} {}, {}\"]", to_string(p.kind), bw, micro(p.latency));
  }
};
struct GraphWriter {
  std::string name;
  void operator()(std::ostream& out) const {
    out << fmt::format("label=\"{}\";\noverlap=false;\nnode [fontsize=10];\nedge [fontsize=8];\n", dot_quoted(name));
  }
};
}  // namespace

void write_dot(const Cluster& c, std::ostream& out) {
  const auto& g = c.impl().graph;
  boost::write_graphviz(out, g, VertexWriter{&g}, EdgeWriter{&g}, GraphWriter{c.name()});
}

}  // namespace ringlab::topology
