#include "ringlab/sim/flow_network.hpp"

#include "ringlab/sim/round_ps.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ringlab::sim {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPs = static_cast<double>(kPsPerSecond);
// Relative tolerance when deciding which links are bottlenecks at the current fill level.
constexpr double kTol = 1e-12;
}  // namespace

FlowNetwork::FlowNetwork(EventQueue& queue, bool record_timeline)
    : queue_(queue), record_timeline_(record_timeline) {}

PathId FlowNetwork::add_path(const topology::Route& route) {
  const std::size_t begin = path_links_.size();
  for (const auto& hop : route.hops) {
    if (hop.link >= links_.size()) links_.resize(static_cast<std::size_t>(hop.link) + 1);
    Link& l = links_[hop.link];
    if (!l.known) {
      l.known = true;
      l.capacity = hop.bandwidth.value;
      l.kind = hop.kind;
    }
    path_links_.push_back(hop.link);
  }
  path_begin_.push_back(path_links_.size());
  // A path that crosses a link twice puts its flow on that link's list twice; removing it by position
  // could then take the other copy than the find it replaces, and the list's order (hence the order
  // of floating-point sums over it) would differ. Such paths keep the search.
  bool repeats = false;
  for (std::size_t i = begin; i < path_links_.size(); ++i) {
    repeats = repeats || std::find(path_links_.begin() + static_cast<std::ptrdiff_t>(begin),
                                   path_links_.begin() + static_cast<std::ptrdiff_t>(i), path_links_[i]) !=
                             path_links_.begin() + static_cast<std::ptrdiff_t>(i);
  }
  path_repeats_.push_back(repeats);
  const std::size_t hops = path_links_.size() - begin;
  if (hops > stride_) {
    // Widen every flow's position row (before any flow runs, in practice).
    detail::ArenaVector<std::uint32_t> wider(flows_.size() * hops, 0U, pos_.get_allocator());
    for (std::size_t f = 0; f < flows_.size(); ++f) {
      std::copy_n(pos_.begin() + static_cast<std::ptrdiff_t>(f * stride_), stride_,
                  wider.begin() + static_cast<std::ptrdiff_t>(f * hops));
    }
    pos_ = std::move(wider);
    stride_ = hops;
  }
  return static_cast<PathId>(path_begin_.size() - 2);
}

FlowId FlowNetwork::start(Time now, PathId path, double bytes, Bandwidth cap, std::uint32_t user, Time tail) {
  // A flow in tail mode on one of these links is alone there no more: settle it first.
  for (const auto l : links_of(path)) {
    if (links_[l].tail_flow != kNoFlow) end_tail_mode(now, links_[l].tail_flow);
  }
  FlowId f = 0;
  if (!free_flows_.empty()) {
    f = free_flows_.back();
    free_flows_.pop_back();
  } else {
    f = static_cast<FlowId>(flows_.size());
    flows_.emplace_back();
    flow_mark_.push_back(0);
    flows_.back().slot = queue_.add_slot();
    pos_.resize(flows_.size() * stride_);
  }
  Flow& fl = flows_[f];
  fl.remaining = bytes;
  fl.rate = 0;
  fl.cap = cap.value > 0 ? cap.value : kInf;
  fl.updated = now;
  fl.tail = record_timeline_ ? Time{-1} : tail;
  fl.path = path;
  fl.user = user;
  fl.active = true;
  fl.in_tail = false;
  std::uint32_t* pos = pos_.data() + f * stride_;
  for (const auto l : links_of(path)) {
    auto& v = links_[l].flows;
    *pos++ = static_cast<std::uint32_t>(v.size());
    v.push_back(f);
  }
  dirty_flows_.push_back(f);
  ++active_;
  return f;
}

bool FlowNetwork::complete(Time now, const Event& ev, std::uint32_t& user) {
  Flow& fl = flows_[ev.target];
  if (!fl.active) return false;  // not reached: a flow's event is moved or cancelled, never left stale
  // Fast path: if no link of the flow that it shares is saturated (to within 1e-9), no other flow is bottlenecked on them, so the
  // max-min allocation of every other flow stands; only the loads drop. Otherwise the flows sharing
  // a saturated link may speed up: recompute their component at settle().
  bool saturated = false;
  for (const auto l : links_of(fl.path)) {
    const Link& lk = links_[l];
    saturated = saturated || (lk.flows.size() > 1 && lk.load >= lk.capacity * (1 - 1e-9));
  }
  remove(now, ev.target, saturated);
  user = fl.user;
  free_flows_.push_back(ev.target);
  return true;
}

// Takes flow f off its links at `now` (the time of its last byte).
void FlowNetwork::remove(Time now, FlowId f, bool saturated) {
  Flow& fl = flows_[f];
  const bool search = path_repeats_[fl.path];
  const std::uint32_t* pos = pos_.data() + f * stride_;
  for (const auto l : links_of(fl.path)) {
    Link& lk = links_[l];
    auto& v = lk.flows;
    // Swap-remove: the last flow of the list takes this one's place (its position there is updated;
    // the spine's list holds hundreds of flows at large P, so no search).
    const std::size_t i = search ? static_cast<std::size_t>(std::find(v.begin(), v.end(), f) - v.begin()) : *pos;
    ++pos;
    const FlowId moved = v.back();
    v[i] = moved;
    v.pop_back();
    if (moved != f && !path_repeats_[flows_[moved].path]) {
      const auto ml = links_of(flows_[moved].path);
      const auto h = static_cast<std::size_t>(std::find(ml.begin(), ml.end(), l) - ml.begin());
      pos_[moved * stride_ + h] = static_cast<std::uint32_t>(i);
    }
    set_load(now, l, v.empty() ? 0.0 : std::max(0.0, lk.load - fl.rate));
    if (saturated) dirty_links_.push_back(l);
  }
  fl.active = false;
  fl.rate = 0;
  --active_;
}

// Flow f, in tail mode, is about to share a link at `now`: if its last byte has gone it leaves its
// links as of then; otherwise it gets back the flow_done event it would have had (same time, same
// place in push order) and is an ordinary flow from now on.
void FlowNetwork::end_tail_mode(Time now, FlowId f) {
  Flow& fl = flows_[f];
  if (fl.end <= now) {
    take_off_alone(f);
    return;
  }
  fl.in_tail = false;
  for (const auto l : links_of(fl.path)) links_[l].tail_flow = kNoFlow;
  queue_.move_keeping_seq(fl.slot, fl.end, Event{EventType::flow_done, f});
}

// A flow in tail mode leaves its links as of its last byte. It is alone on each (a flow joining one
// ends tail mode first), so each list empties and its load drops to 0, as remove() would do.
void FlowNetwork::take_off_alone(FlowId f) {
  Flow& fl = flows_[f];
  for (const auto l : links_of(fl.path)) {
    Link& lk = links_[l];
    lk.flows.pop_back();
    set_load(fl.end, l, 0.0);
    lk.tail_flow = kNoFlow;
  }
  fl.active = false;
  fl.rate = 0;
  --active_;
}

bool FlowNetwork::finish_tail(FlowId f) {
  Flow& fl = flows_[f];
  if (!fl.in_tail) return false;
  if (fl.active) take_off_alone(f);
  fl.in_tail = false;
  free_flows_.push_back(f);
  ++tail_finished_;
  return true;
}

bool FlowNetwork::fast_start(Time now, FlowId f) {
  // A new flow whose own cap fits in the spare capacity of every link of its path runs at its cap and
  // saturates nothing, so every other flow keeps its max-min rate (the common case on a non-blocking
  // fabric, where a transfer is limited by its own route's bottleneck).
  Flow& fl = flows_[f];
  if (fl.cap == kInf) return false;
  for (const auto l : links_of(fl.path)) {
    const Link& lk = links_[l];
    // Filling a link exactly is fine: the others on it keep their own bottlenecks or caps.
    if (lk.load + fl.cap > lk.capacity * (1 + kTol)) return false;
  }
  bool alone = true;
  for (const auto l : links_of(fl.path)) {
    set_load(now, l, links_[l].load + fl.cap);
    alone = alone && links_[l].flows.size() == 1;
  }
  fl.rate = fl.cap;
  const double ps = round_ps(fl.remaining / fl.rate * kPs);
  const Time end = now + Time(static_cast<std::int64_t>(ps));
  if (alone && fl.tail.value >= 0) {  // tail mode (see start())
    fl.in_tail = true;
    fl.end = end;
    for (const auto l : links_of(fl.path)) links_[l].tail_flow = f;
    queue_.schedule(fl.slot, end + fl.tail, Event{EventType::transfer_done, fl.user});
    return true;
  }
  queue_.schedule(fl.slot, end, Event{EventType::flow_done, f});
  return true;
}

void FlowNetwork::settle(Time now) {
  if (!dirty()) return;
  ++epoch_;
  comp_flows_.clear();
  comp_links_.clear();
  auto add_link = [&](topology::LinkId l) {
    Link& lk = links_[l];
    if (lk.mark == epoch_) return;
    lk.mark = epoch_;
    comp_links_.push_back(l);
    for (const FlowId g : lk.flows) {
      if (flow_mark_[g] != epoch_) {
        flow_mark_[g] = epoch_;
        comp_flows_.push_back(g);
      }
    }
  };
  for (const FlowId f : dirty_flows_) {
    if (flows_[f].active && flows_[f].rate == 0 && dirty_links_.empty() && fast_start(now, f)) continue;
    if (flows_[f].active && flow_mark_[f] != epoch_) {
      flow_mark_[f] = epoch_;
      comp_flows_.push_back(f);
    }
  }
  for (const auto l : dirty_links_) add_link(l);
  // Breadth-first closure: every link of a flow in the component, every flow of such a link.
  for (std::size_t i = 0; i < comp_flows_.size(); ++i) {
    for (const auto l : links_of(flows_[comp_flows_[i]].path)) add_link(l);
  }
  dirty_flows_.clear();
  dirty_links_.clear();
  if (!comp_flows_.empty() || !comp_links_.empty()) water_fill(now);
}

void FlowNetwork::water_fill(Time now) {
  ++recomputations_;
  // Bring every flow's remaining bytes up to `now` at its old rate; remember the old rate in
  // `residual`-free storage: the flow's rate is overwritten only when it is frozen below.
  std::size_t unfrozen = 0;
  old_rates_.resize(comp_flows_.size());
  for (std::size_t i = 0; i < comp_flows_.size(); ++i) {
    Flow& fl = flows_[comp_flows_[i]];
    const double dt = static_cast<double>((now - fl.updated).value) / kPs;
    if (fl.rate > 0 && dt > 0) fl.remaining = std::max(0.0, fl.remaining - fl.rate * dt);
    fl.updated = now;
    old_rates_[i] = fl.rate;
    fl.frozen = false;
    ++unfrozen;
  }
  for (const auto l : comp_links_) {
    Link& lk = links_[l];
    lk.residual = lk.capacity;
    lk.unfrozen = static_cast<std::uint32_t>(lk.flows.size());
  }
  // Progressive filling: raise every unfrozen flow's rate together until a link saturates or a flow
  // reaches its own cap; freeze those flows; repeat (Bertsekas & Gallager, Data Networks, 6.5.2).
  while (unfrozen > 0) {
    double s = kInf;
    for (const auto l : comp_links_) {
      const Link& lk = links_[l];
      if (lk.unfrozen > 0) s = std::min(s, std::max(0.0, lk.residual) / lk.unfrozen);
    }
    for (const FlowId f : comp_flows_) {
      if (!flows_[f].frozen) s = std::min(s, flows_[f].cap);
    }
    const double thresh = s * (1 + kTol);
    for (const FlowId f : comp_flows_) {
      Flow& fl = flows_[f];
      if (fl.frozen) continue;
      bool freeze = s == kInf || fl.cap <= thresh;
      double r = std::min(fl.cap, s);
      if (!freeze) {
        for (const auto l : links_of(fl.path)) {
          const Link& lk = links_[l];
          if (std::max(0.0, lk.residual) / lk.unfrozen <= thresh) {
            freeze = true;
            break;
          }
        }
        r = s;
      }
      if (!freeze) continue;
      fl.frozen = true;
      fl.rate = r;
      --unfrozen;
      // Links are updated after this sweep so that every flow of this level sees the same shares.
    }
    for (const auto l : comp_links_) {
      Link& lk = links_[l];
      double used = 0;
      std::uint32_t left = 0;
      for (const FlowId g : lk.flows) {
        if (flows_[g].frozen) used += flows_[g].rate;
        else ++left;
      }
      lk.residual = lk.capacity - used;
      lk.unfrozen = left;
    }
  }
  for (const auto l : comp_links_) {
    double load = 0;
    for (const FlowId g : links_[l].flows) load += flows_[g].rate;
    set_load(now, l, load);
  }
  for (std::size_t i = 0; i < comp_flows_.size(); ++i) {
    const FlowId f = comp_flows_[i];
    Flow& fl = flows_[f];
    if (fl.rate == old_rates_[i] && old_rates_[i] > 0) continue;  // its completion event stands
    if (fl.rate <= 0) {
      queue_.cancel(fl.slot);  // stalled: no event; the simulator reports it if nothing else moves
      continue;
    }
    const double ps = fl.rate == kInf ? 0.0 : round_ps(fl.remaining / fl.rate * kPs);
    queue_.schedule(fl.slot, now + Time(static_cast<std::int64_t>(ps)), Event{EventType::flow_done, f});
  }
}

// Every link of every flow's start and finish comes through here; GCC kept it out of line (1.1M calls
// at 512 ranks) until told.
[[gnu::always_inline]] inline void FlowNetwork::set_load(Time now, topology::LinkId l, double load) {
  Link& lk = links_[l];
  const Time dt = now - lk.changed;
  if (lk.load > 0) {
    lk.bytes += lk.load * static_cast<double>(dt.value) / kPs;
    lk.busy += dt;
  }
  lk.changed = now;
  if (record_timeline_ && load != lk.load) {
    // Several changes of one link at one instant (a finish, then the refill) leave one sample.
    if (!timeline_.empty() && timeline_.back().time == now && timeline_.back().link == l) timeline_.back().rate = load;
    else timeline_.push_back(LinkSample{now, l, load});
  }
  lk.load = load;
}

std::vector<std::uint32_t> FlowNetwork::stalled_users() const {
  std::vector<std::uint32_t> out;
  for (const auto& fl : flows_) {
    if (fl.active) out.push_back(fl.user);
  }
  return out;
}

std::vector<LinkUsage> FlowNetwork::usage(Time end) {
  std::vector<LinkUsage> out;
  for (auto& lk : links_) {  // flows in tail mode done by `end` but not yet taken off (a run stopped early)
    if (lk.tail_flow != kNoFlow && flows_[lk.tail_flow].end <= end) take_off_alone(lk.tail_flow);
  }
  for (std::size_t i = 0; i < links_.size(); ++i) {
    Link& lk = links_[i];
    if (!lk.known) continue;
    set_load(end, static_cast<topology::LinkId>(i), lk.load);
    if (lk.bytes <= 0) continue;
    out.push_back(LinkUsage{static_cast<topology::LinkId>(i), lk.kind, Bandwidth(lk.capacity), lk.bytes, lk.busy});
  }
  return out;
}

}  // namespace ringlab::sim
