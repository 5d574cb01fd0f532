// Routing between GPUs: Dijkstra over a small state machine layered on the cluster graph,
// then a backward walk that picks among equal-cost predecessors by a hash of (src, dst).
//
// Why a state machine: the rules are about where a path has been, not just where it is. A GPU is an
// endpoint only; a NIC is crossed host->network on the way out and network->host on the way in, at
// most once each (so no route uses another node's host side as a bridge); and a GPU with PCIe P2P off
// must have its traffic bounce through a CPU on its side of the network. Each cluster vertex therefore
// has up to kSlots states (see Slot), and a state edge exists only for allowed moves.
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <unordered_map>

#include "cluster_impl.hpp"

namespace ringlab::topology::detail {

namespace {

// Slots per vertex. Host vertices (NVSwitch, PCIe switch, CPU) use 0-2 before the network and 4-5
// after it; network switches and outbound NICs use 3; inbound NICs 4; GPUs 0 (origin) and 5 (arrival).
constexpr int kMustBounce = 0;  // host side of a P2P-off source, no CPU crossed yet (also: GPU origin)
constexpr int kSourceSide = 1;  // host side of the source, no CPU crossed
constexpr int kSourceCpu = 2;   // host side of the source, a CPU crossed
constexpr int kNetwork = 3;     // network switches; NIC on the way out
constexpr int kDestSide = 4;    // host side after the network, no CPU crossed; NIC on the way in
constexpr int kDestCpu = 5;     // host side after the network, a CPU crossed; GPU arrival
constexpr int kSlots = 6;
constexpr int kOrigin = kMustBounce;
constexpr int kArrival = kDestCpu;
constexpr int kNone = -1;

// The slot a move from (u, s) to v lands in, or kNone if the move is not allowed.
int next_slot(const VertexInfo& u, int s, const VertexInfo& v) {
  const DeviceKind vk = v.kind;
  const bool v_cpu = vk == DeviceKind::CPU;
  switch (u.kind) {
    case DeviceKind::GPU: {
      if (s != kOrigin) return kNone;  // GPUs are never transit
      const bool p2p = u.p2p;
      if (is_host(vk)) return v_cpu ? kSourceCpu : (p2p ? kSourceSide : kMustBounce);
      if (vk == DeviceKind::GPU) return (p2p && v.p2p) ? kArrival : kNone;
      if (vk == DeviceKind::NIC) return p2p ? kNetwork : kNone;
      return kNone;
    }
    case DeviceKind::NVSwitch:
    case DeviceKind::PCIeSwitch:
    case DeviceKind::CPU:
      if (s <= kSourceCpu) {
        if (is_host(vk)) return v_cpu ? kSourceCpu : s;
        if (vk == DeviceKind::GPU) return (s != kMustBounce && (v.p2p || s == kSourceCpu)) ? kArrival : kNone;
        if (vk == DeviceKind::NIC) return s != kMustBounce ? kNetwork : kNone;
        return kNone;
      }
      if (s == kDestSide || s == kDestCpu) {
        if (is_host(vk)) return v_cpu ? kDestCpu : s;
        if (vk == DeviceKind::GPU) return (v.p2p || s == kDestCpu) ? kArrival : kNone;
        return kNone;  // no second exit to the network
      }
      return kNone;
    case DeviceKind::NIC:
      if (s == kNetwork) {  // outbound: only onto the network
        if (vk == DeviceKind::Switch) return kNetwork;
        if (vk == DeviceKind::NIC) return kDestSide;  // back-to-back cable
        return kNone;
      }
      if (s == kDestSide) {  // inbound: only into its host
        if (is_host(vk)) return v_cpu ? kDestCpu : kDestSide;
        if (vk == DeviceKind::GPU) return v.p2p ? kArrival : kNone;
        return kNone;
      }
      return kNone;
    case DeviceKind::Switch:
      if (s != kNetwork) return kNone;
      if (vk == DeviceKind::Switch) return kNetwork;
      if (vk == DeviceKind::NIC) return kDestSide;
      return kNone;
  }
  return kNone;
}

// Path label: total latency first (less is better), then bottleneck bandwidth (more is better).
struct Label {
  std::int64_t lat = 0;
  double bw = 0;
};
constexpr std::int64_t kInfLat = std::numeric_limits<std::int64_t>::max();
const Label kInf{kInfLat, 0.0};
const Label kZero{0, std::numeric_limits<double>::infinity()};

struct LabelLess {
  bool operator()(const Label& x, const Label& y) const noexcept {
    return x.lat < y.lat || (x.lat == y.lat && x.bw > y.bw);
  }
};
struct LabelCombine {
  Label operator()(const Label& d, const Label& w) const noexcept {
    if (d.lat == kInfLat) return kInf;
    return Label{d.lat + w.lat, std::min(d.bw, w.bw)};
  }
};

struct StateEdge {
  LinkId link = 0;
  Label w;
};
using StateGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, boost::no_property, StateEdge>;
using State = StateGraph::vertex_descriptor;

// splitmix64: a fixed, well-mixed hash so ECMP choices are the same on every platform and run.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// All routes from one source, as directed link ids (compact: 4 bytes per hop).
/// Routes already walked from one source: destination GPU -> its links in order.
using SourceRoutes = std::unordered_map<int, std::vector<LinkId>>;

}  // namespace

class Router {
 public:
  Router(const Graph& g, const std::vector<VertexId>& gpu_vertex) : gpus_(gpu_vertex) {
    const auto n = boost::num_vertices(g);
    sg_ = StateGraph(n * std::size_t{kSlots});
    hops_.resize(2 * boost::num_edges(g));
    for (auto [it, end] = boost::edges(g); it != end; ++it) {
      const EdgeProps& p = g[*it];
      for (const VertexId from : {p.a, p.b}) {
        const VertexId to = from == p.a ? p.b : p.a;
        const LinkId id = directed_id(p, from);
        const Bandwidth bw = directed_bandwidth(p, from);
        hops_[id] = Hop{id, p.kind, bw, p.latency};
        for (int s = 0; s < kSlots; ++s) {
          const int t = next_slot(g[from], s, g[to]);
          if (t == kNone) continue;
          boost::add_edge(state(from, s), state(to, t),
                          StateEdge{id, Label{p.latency.value, bw.value}}, sg_);
        }
      }
    }
    // The connected pieces of the part after the network (slots kDestSide, kDestCpu: one per node's
    // host side, with its GPUs' arrivals), by union-find over its edges. No move leaves that part, so
    // a state in it reaches only states of its own piece.
    const std::size_t n_states = n * std::size_t{kSlots};
    piece_.resize(n_states);
    for (State v = 0; v < n_states; ++v) piece_[v] = static_cast<std::uint32_t>(v);
    auto find = [&](std::uint32_t v) {
      while (piece_[v] != v) v = piece_[v] = piece_[piece_[v]];
      return v;
    };
    for (auto [it, end] = boost::edges(sg_); it != end; ++it) {
      const State u = boost::source(*it, sg_);
      const State v = boost::target(*it, sg_);
      if (u % kSlots >= kDestSide && v % kSlots >= kDestSide) {
        piece_[find(static_cast<std::uint32_t>(u))] = find(static_cast<std::uint32_t>(v));
      }
    }
    for (State v = 0; v < n_states; ++v) piece_[v] = find(static_cast<std::uint32_t>(v));
    cache_.resize(gpus_.size());
    dist_.resize(n_states, kInf);
    final_.resize(n_states, 0);
  }

  // Which GPUs every GPU reaches, via the strongly connected components of the state graph: Tarjan
  // (Boost's strong_components) numbers a component only after every component it reaches, so one
  // pass in increasing order ORs each component's successors' GPU bitsets into its own. The network
  // is one big component, so this is linear in the state graph plus N bits per component.
  [[nodiscard]] bool find_unreachable(int& a, int& b) const {
    const auto n_states = boost::num_vertices(sg_);
    std::vector<std::size_t> comp(n_states);
    const auto n_comp = static_cast<std::size_t>(boost::strong_components(
        sg_, boost::make_iterator_property_map(comp.begin(), boost::get(boost::vertex_index, sg_))));
    const std::size_t words = (gpus_.size() + 63) / 64;
    std::vector<std::uint64_t> bits(n_comp * words, 0);
    for (std::size_t g = 0; g < gpus_.size(); ++g) {
      bits[comp[state(gpus_[g], kArrival)] * words + g / 64] |= std::uint64_t{1} << (g % 64);
    }
    std::vector<std::vector<State>> members(n_comp);
    for (State v = 0; v < n_states; ++v) members[comp[v]].push_back(v);
    for (std::size_t c = 0; c < n_comp; ++c) {
      for (const State v : members[c]) {
        for (auto [it, end] = boost::out_edges(v, sg_); it != end; ++it) {
          const std::size_t d = comp[boost::target(*it, sg_)];
          if (d == c) continue;
          if (d > c) throw std::logic_error("strong_components: unexpected numbering");
          for (std::size_t w = 0; w < words; ++w) bits[c * words + w] |= bits[d * words + w];
        }
      }
    }
    for (std::size_t src = 0; src < gpus_.size(); ++src) {
      const std::size_t c = comp[state(gpus_[src], kOrigin)];
      for (std::size_t dst = 0; dst < gpus_.size(); ++dst) {
        if (dst != src && (bits[c * words + dst / 64] >> (dst % 64) & 1U) == 0) {
          a = static_cast<int>(src);
          b = static_cast<int>(dst);
          return true;
        }
      }
    }
    return false;
  }

  [[nodiscard]] Route route(int a, int b) {
    const auto n = gpus_.size();
    if (a < 0 || b < 0 || static_cast<std::size_t>(a) >= n || static_cast<std::size_t>(b) >= n) {
      throw std::out_of_range("route: GPU index out of range");
    }
    Route r;
    if (a == b) return r;
    // Each (source, destination) is walked once, on first request: a ring asks for P routes, not P^2.
    // The distances of the last source stay in dist_, so a source's destinations are walked with one
    // Dijkstra as long as they are asked for together (the simulator asks rank by rank).
    auto& cached = cache_[static_cast<std::size_t>(a)];
    auto it = cached.find(b);
    if (it == cached.end()) {
      const State origin = state(gpus_[static_cast<std::size_t>(a)], kOrigin);
      const State target = state(gpus_[static_cast<std::size_t>(b)], kArrival);
      if (dist_source_ != a) {
        // The first destination asked of a source: stop once it and everything labelled no worse are
        // final (a ring asks one destination per source, mostly a GPU of the same node).
        shortest_from(origin, target);
        dist_source_ = a;
      } else if (!dist_complete_) {
        shortest_from(origin, std::nullopt);  // a second destination: the whole tree, once
      }
      std::vector<LinkId> reversed;
      std::vector<StateGraph::edge_descriptor> candidates;
      walk(a, b, origin, reversed, candidates);
      it = cached.emplace(b, std::vector<LinkId>(reversed.rbegin(), reversed.rend())).first;
    }
    for (const auto l : it->second) r.hops.push_back(hops_[l]);
    return r;
  }

 private:
  [[nodiscard]] static State state(VertexId v, int slot) noexcept {
    return static_cast<State>(v) * std::size_t{kSlots} + static_cast<std::size_t>(slot);
  }

  // Dijkstra from `origin`. With a target, it stops at the first state examined whose label is worse
  // than the target's: states come out in label order, so the target and every state labelled no worse
  // are final by then — all that walk() reads (a predecessor on an optimal path is labelled no worse
  // than the state it leads to; a state not final is labelled worse than the target even now, so walk()
  // rejects it as the complete run would). With a target it also never enters the part after the
  // network outside the target's piece (another node's host side, which cannot lead to it): no path
  // to the target runs through those states, so no label walk() reads changes. The routes are the
  // same as with the whole tree.
  //
  // Written here rather than Boost's dijkstra_shortest_paths: that labels and colours every state
  // before it starts, and even its no_init variant allocates and fills an index-in-heap map over all
  // states on every call — O(states) per source, which made routing a ring O(P^2) (a third of the
  // routing instructions at 512 GPUs) although most of its routes stay inside one node. This one
  // keeps its arrays between runs and resets only the states the last run reached; a binary heap with
  // lazy deletion (a state's stale entries are skipped once it is final) gives the same labels, which
  // are unique. (A cross-node route explored every state closer than its target, every other node's
  // host side included, until it kept out of the pieces that cannot lead there: ~0.4 s of routing at
  // 4096 GPUs before.)
  struct Queued {
    Label label;
    State state;
  };
  void shortest_from(State origin, std::optional<State> target) {
    for (const State v : reached_) {
      dist_[v] = kInf;
      final_[v] = 0;
    }
    reached_.clear();
    heap_.clear();
    dist_complete_ = false;
    // std::*_heap keep the greatest on top: "greater" is the worse label, so the best comes out first.
    const auto worse = [](const Queued& x, const Queued& y) { return LabelLess{}(y.label, x.label); };
    const std::uint32_t keep = target ? piece_[*target] : 0;
    dist_[origin] = kZero;
    reached_.push_back(origin);
    heap_.push_back(Queued{kZero, origin});
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), worse);
      const State u = heap_.back().state;
      heap_.pop_back();
      if (final_[u] != 0) continue;  // a stale entry: u came out earlier with its best label
      final_[u] = 1;
      if (target && LabelLess{}(dist_[*target], dist_[u])) return;
      for (auto [it, end] = boost::out_edges(u, sg_); it != end; ++it) {
        const State v = boost::target(*it, sg_);
        if (target && v % kSlots >= kDestSide && piece_[v] != keep) continue;
        const Label via = LabelCombine{}(dist_[u], sg_[*it].w);
        if (!LabelLess{}(via, dist_[v])) continue;
        if (dist_[v].lat == kInfLat) reached_.push_back(v);
        dist_[v] = via;
        heap_.push_back(Queued{via, v});
        std::push_heap(heap_.begin(), heap_.end(), worse);
      }
    }
    dist_complete_ = !target;  // ran to the end: the whole tree, unless parts were kept out
  }

  // From the destination's arrival state back to the origin, through predecessors that keep the
  // optimal latency and can still deliver the optimal bottleneck; ties chosen by hash(src, dst, state).
  void walk(int src, int dst, State origin, std::vector<LinkId>& reversed,
            std::vector<StateGraph::edge_descriptor>& candidates) const {
    State t = state(gpus_[static_cast<std::size_t>(dst)], kArrival);
    const double need = dist_[t].bw;
    if (dist_[t].lat == kInfLat) throw std::logic_error("route: no path (the builder should have refused this)");
    const std::uint64_t pair_hash =
        mix((static_cast<std::uint64_t>(static_cast<std::uint32_t>(src)) << 32) | static_cast<std::uint32_t>(dst));
    while (t != origin) {
      candidates.clear();
      for (auto [it, end] = boost::in_edges(t, sg_); it != end; ++it) {
        const Label& du = dist_[boost::source(*it, sg_)];
        const Label& w = sg_[*it].w;
        if (du.lat == kInfLat || du.lat + w.lat != dist_[t].lat || w.bw < need || du.bw < need) continue;
        candidates.push_back(*it);
      }
      if (candidates.empty()) throw std::logic_error("route: broken predecessor chain");
      const std::size_t pick =
          candidates.size() == 1 ? 0 : static_cast<std::size_t>(mix(pair_hash ^ (t * 0x9e3779b97f4a7c15ULL)) % candidates.size());
      reversed.push_back(sg_[candidates[pick]].link);
      t = boost::source(candidates[pick], sg_);
    }
  }

  std::vector<VertexId> gpus_;
  StateGraph sg_;
  std::vector<Hop> hops_;                              // by directed link id
  std::vector<SourceRoutes> cache_;   // by source GPU, filled lazily
  std::vector<std::uint32_t> piece_;  // by state after the network: its piece's root (see the constructor)
  std::vector<Label> dist_;           // Dijkstra distances from dist_source_, by state (kInf: not reached)
  std::vector<char> final_;           // by state: its label in dist_ is final (it left the heap)
  std::vector<State> reached_;        // the states the last run labelled
  std::vector<Queued> heap_;          // the last run's heap (kept for its capacity)
  int dist_source_ = -1;              // the source dist_ holds (-1: none yet)
  bool dist_complete_ = false;        // dist_ is the whole tree, not one stopped after a target
};

void RouterDeleter::operator()(Router* r) const noexcept { delete r; }

RouterPtr make_router(const Graph& g, const std::vector<VertexId>& gpu_vertex) {
  return RouterPtr(new Router(g, gpu_vertex));
}

bool find_unreachable(const Router& r, int& a, int& b) { return r.find_unreachable(a, b); }

Route route_of(Router& r, int a, int b) { return r.route(a, b); }

}  // namespace ringlab::topology::detail
