// The event queue and the flow network on their own.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "ringlab/sim/event_queue.hpp"
#include "ringlab/sim/flow_network.hpp"
#include "ringlab/sim/round_ps.hpp"

using namespace ringlab;
using namespace ringlab::sim;

TEST_CASE("event queue: pops by time, ties in push order") {
  EventQueue q;
  std::mt19937 rng(7);
  std::vector<std::pair<std::int64_t, std::uint32_t>> pushed;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const auto t = static_cast<std::int64_t>(rng() % 50);
    q.push(Time(t), Event{EventType::timed_done, i});
    pushed.emplace_back(t, i);
  }
  std::stable_sort(pushed.begin(), pushed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [t, i] : pushed) {
    REQUIRE(!q.empty());
    Time tt;
    Event ev;
    q.pop(tt, ev);
    CHECK(tt.value == t);
    CHECK(ev.target == i);
  }
  CHECK(q.empty());
}

TEST_CASE("event queue: a re-scheduled slot pops where a fresh push would; cancelled ones never pop") {
  EventQueue q;
  const auto a = q.add_slot();
  const auto b = q.add_slot();
  q.schedule(a, Time(10), Event{EventType::compute_done, 1});
  q.push(Time(10), Event{EventType::timed_done, 2});
  q.schedule(b, Time(5), Event{EventType::flow_done, 3});
  CHECK(q.pending(a));
  q.schedule(a, Time(10), Event{EventType::compute_done, 4});  // same time, now after target 2
  q.schedule(b, Time(20), Event{EventType::flow_done, 5});     // later
  q.push(Time(20), Event{EventType::timed_done, 6});
  q.schedule(b, Time(20), Event{EventType::flow_done, 7});     // after target 6 now
  const auto c = q.add_slot();
  q.schedule(c, Time(1), Event{EventType::compute_done, 8});
  q.cancel(c);
  q.cancel(c);  // no-op
  CHECK(!q.pending(c));
  CHECK(q.superseded() == 4);
  CHECK(q.size() == 4);
  std::vector<std::pair<std::int64_t, std::uint32_t>> got;
  while (!q.empty()) {
    Time t;
    Event ev;
    q.pop(t, ev);
    got.emplace_back(t.value, ev.target);
  }
  CHECK(got == std::vector<std::pair<std::int64_t, std::uint32_t>>{{10, 2}, {10, 4}, {20, 6}, {20, 7}});
  CHECK(!q.pending(a));
  CHECK(!q.pending(b));
}

TEST_CASE("event queue: a slot scheduled at the current instant keeps push order with the same-instant FIFO") {
  // Plain pushes at the instant being processed go to a FIFO; slotted events always go to the heap,
  // and must still pop in push order among them.
  EventQueue q;
  const auto s = q.add_slot();
  q.push(Time(3), Event{EventType::timed_done, 0});
  Time t;
  Event ev;
  q.pop(t, ev);  // now = 3
  q.push(Time(3), Event{EventType::timed_done, 1});
  q.schedule(s, Time(3), Event{EventType::compute_done, 2});
  q.push(Time(3), Event{EventType::timed_done, 3});
  q.push(Time(4), Event{EventType::timed_done, 4});
  std::vector<std::uint32_t> order;
  while (!q.empty()) {
    const Event next = q.peek();
    q.pop(t, ev);
    CHECK(ev.target == next.target);
    order.push_back(ev.target);
  }
  CHECK(order == std::vector<std::uint32_t>{1, 2, 3, 4});
}

TEST_CASE("event queue: an event moved keeping its seq pops where it would have, had it been scheduled so") {
  // Slot s is scheduled at 50 (seq 1), between pushes at 15 (seq 0) and 15 (seq 2), then moved to 15
  // keeping seq 1: it pops between them, not after (a fresh schedule would), with its new payload.
  // From a lane (the delay recurs) or from the heap, alike.
  for (const bool lane : {false, true}) {
    CAPTURE(lane);
    EventQueue q;
    const auto s = q.add_slot();
    if (lane) {  // make delay 50 recur, so s's event sits in a lane
      for (std::uint32_t i = 0; i < 3; ++i) q.push(Time(50), Event{EventType::timed_done, 100 + i});
    }
    q.push(Time(15), Event{EventType::timed_done, 0});
    q.schedule(s, Time(50), Event{EventType::transfer_done, 1});
    q.push(Time(15), Event{EventType::timed_done, 2});
    q.push(Time(15), Event{EventType::timed_done, 3});
    q.move_keeping_seq(s, Time(15), Event{EventType::flow_done, 9});
    CHECK(q.pending(s));
    std::vector<std::uint32_t> order;
    while (!q.empty()) {
      Time t;
      Event ev;
      q.pop(t, ev);
      if (ev.target < 100) order.push_back(ev.target);
      if (ev.target == 9) CHECK((t == Time(15) && ev.type == EventType::flow_done));
    }
    CHECK(order == std::vector<std::uint32_t>{0, 9, 2, 3});
    CHECK(!q.pending(s));
  }
}

TEST_CASE("event queue: slotted and plain events in random order match lazy cancellation exactly") {
  // Reference: every schedule is a fresh push tagged with the slot's generation, stale ones dropped
  // when popped (what the simulator did before slots). Same pops, same order, and pushes +
  // superseded() equals the reference's pops (the simulator's events figure).
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    EventQueue q;
    struct Ref {
      std::int64_t time;
      std::uint64_t seq;
      Event ev;
      std::uint32_t slot;  // 0: plain
      std::uint32_t gen;
    };
    std::vector<Ref> ref;  // pending, unordered (small)
    std::vector<EventQueue::Slot> slots;
    std::vector<std::uint32_t> gen(1, 0);
    std::uint64_t seq = 0;
    std::int64_t now = 0;
    std::uint64_t ref_pops = 0;
    std::uint64_t pops = 0;
    for (int step = 0; step < 4000; ++step) {
      const auto op = rng() % 10;
      if (op < 3) {
        const std::int64_t t = now + static_cast<std::int64_t>(rng() % 3 == 0 ? 0 : rng() % 20);
        const Event ev{EventType::timed_done, static_cast<std::uint32_t>(step)};
        q.push(Time(t), ev);
        ref.push_back({t, seq++, ev, 0, 0});
      } else if (op < 6) {
        if (slots.size() < 30 && rng() % 4 == 0) {
          slots.push_back(q.add_slot());
          gen.push_back(0);
        }
        if (slots.empty()) continue;
        const std::size_t k = rng() % slots.size();
        const std::int64_t t = now + static_cast<std::int64_t>(rng() % 3 == 0 ? 0 : rng() % 20);
        const Event ev{EventType::compute_done, static_cast<std::uint32_t>(step)};
        q.schedule(slots[k], Time(t), ev);
        ref.push_back({t, seq++, ev, static_cast<std::uint32_t>(k + 1), ++gen[k + 1]});
      } else if (op < 7) {
        if (slots.empty()) continue;
        const std::size_t k = rng() % slots.size();
        q.cancel(slots[k]);
        ++gen[k + 1];
      } else {
        // Pop the reference's earliest live event (dropping stale ones) and compare.
        for (;;) {
          if (ref.empty()) break;
          const auto it = std::min_element(ref.begin(), ref.end(), [](const Ref& x, const Ref& y) {
            return x.time != y.time ? x.time < y.time : x.seq < y.seq;
          });
          const Ref r = *it;
          ref.erase(it);
          ++ref_pops;
          if (r.slot != 0 && r.gen != gen[r.slot]) continue;
          REQUIRE(!q.empty());
          CHECK(q.top_time().value == r.time);
          Time t;
          Event ev;
          q.pop(t, ev);
          ++pops;
          CHECK(t.value == r.time);
          CHECK(ev.target == r.ev.target);
          CHECK(ev.type == r.ev.type);
          now = t.value;
          break;
        }
        if (ref.empty()) CHECK(q.empty());
      }
    }
    while (!q.empty()) {
      Time t;
      Event ev;
      q.pop(t, ev);
      ++pops;
    }
    ref_pops += ref.size();
    CHECK(pops + q.superseded() == ref_pops);
    for (const auto s : slots) CHECK(!q.pending(s));
  }
}

TEST_CASE("event queue: recurring delays, more of them than lanes, and pushes into the past stay in order") {
  // Events pushed a recurring delay after the current instant go to per-delay FIFOs; everything
  // else to the heap. The pop order must be that of one (time, seq) heap regardless.
  EventQueue q;
  std::mt19937 rng(5);
  std::vector<std::tuple<std::int64_t, std::uint64_t, std::uint32_t>> ref;  // (time, seq, target)
  std::uint64_t seq = 0;
  std::int64_t now = 0;
  std::uint32_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    if (rng() % 3 != 0 || ref.empty()) {
      // 40 recurring delays (more than the lanes), some one-off ones, and now and then the past.
      const auto r = rng() % 100;
      std::int64_t t = now + static_cast<std::int64_t>(1000 * (rng() % 40));
      if (r < 5) t = now + static_cast<std::int64_t>(rng() % 100000);
      else if (r < 7) t = now - static_cast<std::int64_t>(rng() % 50);
      q.push(Time(t), Event{EventType::transfer_done, next});
      ref.emplace_back(t, seq++, next++);
    } else {
      const auto it = std::min_element(ref.begin(), ref.end());
      Time t;
      Event ev;
      REQUIRE(!q.empty());
      CHECK(q.top_time().value == std::get<0>(*it));
      CHECK(q.peek().target == std::get<2>(*it));
      q.pop(t, ev);
      CHECK(t.value == std::get<0>(*it));
      CHECK(ev.target == std::get<2>(*it));
      now = t.value;
      ref.erase(it);
    }
    CHECK(q.size() == ref.size());
  }
}

namespace {
topology::Route path(std::initializer_list<std::pair<topology::LinkId, double>> hops) {
  topology::Route r;
  for (const auto& [l, bw] : hops) r.hops.push_back({l, topology::LinkKind::Net, Bandwidth(bw), Time{0}});
  return r;
}
// Pops every event, handing each to `handle(now, event)`, and settles the network as the simulator
// does (once an instant's events are all handled); returns the last event's time.
template <class Handle>
Time pump(EventQueue& q, FlowNetwork& net, Handle handle) {
  Time now{0};
  while (!q.empty()) {
    Time t;
    Event ev;
    q.pop(t, ev);
    now = t;
    handle(now, ev);
    if (net.dirty() && (q.empty() || q.top_time() > now)) net.settle(now);
  }
  return now;
}
// Runs the network alone until every flow is done; returns each user's finish time.
std::vector<Time> drain(EventQueue& q, FlowNetwork& net, std::size_t users) {
  std::vector<Time> done(users);
  net.settle(Time{0});
  pump(q, net, [&](Time now, const Event& ev) {
    std::uint32_t user = 0;
    if (net.complete(now, ev, user)) done[user] = now;
  });
  return done;
}
}  // namespace

TEST_CASE("flow network: two flows through one link get half each") {
  // Link 0 (100 GB/s) is shared; links 1 and 2 are private and faster. 1e9 bytes alone would take
  // 10 ms; sharing 50 GB/s each, both take 1e9 / 50e9 = 20 ms.
  EventQueue q;
  FlowNetwork net(q);
  const PathId a = net.add_path(path({{0, 100e9}, {1, 400e9}}));
  const PathId b = net.add_path(path({{0, 100e9}, {2, 400e9}}));
  net.start(Time{0}, a, 1e9, Bandwidth{0}, 0);
  net.start(Time{0}, b, 1e9, Bandwidth{0}, 1);
  net.settle(Time{0});
  CHECK(net.rate(0) == 50e9);
  CHECK(net.rate(1) == 50e9);
  const auto done = drain(q, net, 2);
  CHECK(done[0] == seconds(0.02));
  CHECK(done[1] == seconds(0.02));
}

TEST_CASE("flow network: max-min fairness gives a capped flow's leftover to the other") {
  // Both cross link 0 (100 GB/s); flow 0 is capped at 20 GB/s, so flow 1 gets 80 GB/s.
  // Flow 1 (8e8 B) ends at 10 ms; flow 0 (4e8 B) has sent 2e8 B by then, and its 2e8 B left go at its
  // cap of 20 GB/s: 10 ms more, ending at 20 ms.
  EventQueue q;
  FlowNetwork net(q);
  const PathId p = net.add_path(path({{0, 100e9}}));
  net.start(Time{0}, p, 4e8, Bandwidth(20e9), 0);
  net.start(Time{0}, p, 8e8, Bandwidth{0}, 1);
  net.settle(Time{0});
  CHECK(net.rate(0) == 20e9);
  CHECK(net.rate(1) == 80e9);
  const auto done = drain(q, net, 2);
  CHECK(done[1] == seconds(0.01));
  CHECK(done[0] == seconds(0.02));
}

TEST_CASE("flow network: a finishing flow speeds up the survivor (progress is kept)") {
  // Shared 100 GB/s: 5e8 B and 1e9 B start together at 50 GB/s each. The first ends at 10 ms; the
  // second has 5e8 B left and runs alone at 100 GB/s: 5 ms more, 15 ms in all.
  EventQueue q;
  FlowNetwork net(q, true);
  const PathId p = net.add_path(path({{3, 100e9}}));
  net.start(Time{0}, p, 5e8, Bandwidth{0}, 0);
  net.start(Time{0}, p, 1e9, Bandwidth{0}, 1);
  const auto done = drain(q, net, 2);
  CHECK(done[0] == seconds(0.010));
  CHECK(done[1] == seconds(0.015));
  const auto usage = net.usage(seconds(0.015));
  REQUIRE(usage.size() == 1);
  CHECK(usage[0].link == 3);
  CHECK(usage[0].bytes == doctest::Approx(1.5e9));
  CHECK(usage[0].busy == seconds(0.015));
  // 100 GB/s at 0 (two shares), 100 GB/s at 10 ms (the survivor alone; one sample for the instant), 0 at 15 ms.
  REQUIRE(net.timeline().size() == 3);
  CHECK(net.timeline()[1].rate == 100e9);
  CHECK(net.timeline()[2].rate == 0);
}

namespace {
// A scripted run of the network as the simulator drives it: flow i starts at its time on its route and
// its user's own event comes `tail` after its last byte. With `tails` the network is told so
// (FlowNetwork::start's tail: flows alone on their links get no flow_done event); without, the user
// schedules that event from flow_done, as the network did before.
struct TailFlow {
  Time start;
  std::size_t route = 0;
  double bytes = 1e9;
  double cap = 100e9;  // 0: none
};
struct TailRun {
  std::vector<Time> done;  // each user's own event
  std::vector<LinkUsage> usage;
  std::uint64_t flow_events = 0;  // flow_done events popped plus flows finished without one
};
TailRun run_tails(bool tails, const std::vector<topology::Route>& routes, const std::vector<TailFlow>& flows, Time tail) {
  EventQueue q;
  FlowNetwork net(q);
  std::vector<PathId> paths;
  for (const auto& r : routes) paths.push_back(net.add_path(r));
  TailRun out;
  out.done.resize(flows.size());
  std::vector<FlowId> flow(flows.size(), kNoFlow);
  for (std::uint32_t i = 0; i < flows.size(); ++i) q.push(flows[i].start, Event{EventType::timed_done, i});
  const Time end = pump(q, net, [&](Time now, const Event& ev) {
    std::uint32_t user = 0;
    switch (ev.type) {
      case EventType::timed_done: {
        const TailFlow& x = flows[ev.target];
        flow[ev.target] = net.start(now, paths[x.route], x.bytes, Bandwidth(x.cap), ev.target, tails ? tail : Time{-1});
        break;
      }
      case EventType::flow_done:
        if (net.complete(now, ev, user)) {
          ++out.flow_events;
          flow[user] = kNoFlow;
          q.push(now + tail, Event{EventType::transfer_done, user});
        }
        break;
      case EventType::transfer_done:
        if (flow[ev.target] != kNoFlow && net.finish_tail(flow[ev.target])) ++out.flow_events;
        out.done[ev.target] = now;
        break;
      case EventType::compute_done:
        break;
    }
  });
  CHECK(net.tail_finished() <= out.flow_events);
  CHECK(net.active_flows() == 0);
  out.usage = net.usage(end);
  return out;
}
void check_same_usage(const TailRun& a, const TailRun& b) {
  REQUIRE(a.usage.size() == b.usage.size());
  for (std::size_t i = 0; i < a.usage.size(); ++i) {
    CAPTURE(i);
    CHECK(a.usage[i].link == b.usage[i].link);
    CHECK(a.usage[i].bytes == b.usage[i].bytes);
    CHECK(a.usage[i].busy == b.usage[i].busy);
  }
}
}  // namespace

TEST_CASE("flow network: a flow alone on its links gets no flow_done event, and every figure stands") {
  // Flows 0 and 2 start alone (tail mode). Flow 1 joins flow 0's link at 5 ms, mid-flight: flow 0 gets
  // its flow_done event back; they share 100 GB/s, so flow 0's last 0.5e9 bytes go at 50 GB/s (last
  // byte at 15 ms) and flow 1's first 0.5e9 too, its last 0.5e9 alone at 100 GB/s (20 ms). Flow 3
  // joins flow 2's links at 12 ms, after flow 2's last byte (10 ms) but before its own event (10 ms +
  // tail): flow 2 leaves its links as of 10 ms and flow 3 runs alone, 12 to 22 ms.
  auto ms = [](double x) { return microseconds(1000 * x); };
  const std::vector<topology::Route> routes = {path({{0, 100e9}}), path({{1, 100e9}, {2, 400e9}})};
  const std::vector<TailFlow> flows = {{Time{0}, 0}, {ms(5), 0}, {Time{0}, 1}, {ms(12), 1}};
  const TailRun lazy = run_tails(true, routes, flows, ms(3));
  const TailRun eager = run_tails(false, routes, flows, ms(3));
  CHECK(lazy.done == eager.done);
  CHECK(lazy.flow_events == eager.flow_events);
  CHECK(eager.flow_events == 4);
  CHECK(lazy.done[0] == ms(15 + 3));
  CHECK(lazy.done[1] == ms(20 + 3));
  CHECK(lazy.done[2] == ms(10 + 3));
  CHECK(lazy.done[3] == ms(22 + 3));
  check_same_usage(lazy, eager);
  REQUIRE(lazy.usage.size() == 3);
  CHECK(lazy.usage[0].busy == ms(20));  // link 0: 0 to 20 ms
  CHECK(lazy.usage[1].busy == ms(20));  // link 1: 0 to 10 ms, then 12 to 22 ms
  CHECK(lazy.usage[1].bytes == doctest::Approx(2e9));
  // A tail of 0: the user's event comes at the last byte; a flow joining then finds the link free.
  const TailRun zero = run_tails(true, routes, {{Time{0}, 0}, {ms(10), 0}}, Time{0});
  CHECK(zero.done == std::vector<Time>{ms(10), ms(20)});
}

TEST_CASE("flow network: flows in tail mode give what flow_done events give, on random workloads") {
  // Random routes over five links, random starts (on a coarse grid, so that many coincide), sizes and
  // caps: with and without tail mode, every user's event comes at the same picosecond, every link
  // carried the same bytes for the same time, and as many flow ends are counted.
  std::mt19937_64 rng(7);
  const double capacity[] = {50e9, 100e9, 200e9, 100e9, 400e9};
  const double caps[] = {0, 25e9, 50e9, 100e9, 150e9};
  std::uint64_t in_tail = 0;
  for (int run = 0; run < 300; ++run) {
    CAPTURE(run);
    std::vector<topology::Route> routes;
    for (int r = 0; r < 6; ++r) {
      std::vector<std::pair<topology::LinkId, double>> hops;
      for (topology::LinkId l = 0; l < 5; ++l) {
        if (rng() % 3 == 0) hops.emplace_back(l, capacity[l]);
      }
      if (hops.empty()) hops.emplace_back(static_cast<topology::LinkId>(rng() % 5), capacity[0]);
      topology::Route route;
      for (const auto& [l, bw] : hops) route.hops.push_back({l, topology::LinkKind::Net, Bandwidth(bw), Time{0}});
      routes.push_back(route);
    }
    std::vector<TailFlow> flows;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      flows.push_back(TailFlow{microseconds(static_cast<double>(250 * (rng() % 80))), rng() % routes.size(),
                               static_cast<double>(1 + rng() % 20) * 1e8, caps[rng() % 5]});
    }
    const Time tail = microseconds(static_cast<double>(500 * (rng() % 5)));
    const TailRun lazy = run_tails(true, routes, flows, tail);
    const TailRun eager = run_tails(false, routes, flows, tail);
    CHECK(lazy.done == eager.done);
    CHECK(lazy.flow_events == eager.flow_events);
    check_same_usage(lazy, eager);
    in_tail += lazy.flow_events;
  }
  CHECK(in_tail > 0);
}

TEST_CASE("flow network: a parking-lot chain is max-min fair, not proportional") {
  // Links 0 and 1 of 100 GB/s; flow A crosses both, B only link 0, C only link 1. Max-min: all three
  // at 50 GB/s (each link carries A + one other).
  EventQueue q;
  FlowNetwork net(q);
  const PathId ab = net.add_path(path({{0, 100e9}, {1, 100e9}}));
  const PathId a = net.add_path(path({{0, 100e9}}));
  const PathId b = net.add_path(path({{1, 100e9}}));
  net.start(Time{0}, ab, 1e9, Bandwidth{0}, 0);
  net.start(Time{0}, a, 1e9, Bandwidth{0}, 1);
  net.start(Time{0}, b, 1e9, Bandwidth(10e9), 2);  // capped: A and B share link 0 at 50; link 1 has 90 - 50 spare
  net.settle(Time{0});
  CHECK(net.rate(0) == 50e9);
  CHECK(net.rate(1) == 50e9);
  CHECK(net.rate(2) == 10e9);
}

TEST_CASE("round_ps is std::round: ties away from zero, the largest doubles, and what it hands to std::round") {
  const double inf = std::numeric_limits<double>::infinity();
  // Ties and their neighbours, by hand: 2.5 -> 3 (not 2, as nearbyint's ties-to-even would give).
  CHECK(round_ps(0.0) == 0.0);
  CHECK(round_ps(0.49999999999999994) == 0.0);  // the largest double below 0.5
  CHECK(round_ps(0.5) == 1.0);
  CHECK(round_ps(2.5) == 3.0);
  CHECK(round_ps(2.4999999999999996) == 2.0);
  CHECK(round_ps(1e12 + 0.5) == 1e12 + 1);
  CHECK(round_ps(0x1p52 + 1) == 0x1p52 + 1);     // integers up to 2^53 exactly
  CHECK(round_ps(0x1p53) == 0x1p53);             // from 2^53 on: std::round's path
  CHECK(round_ps(-2.5) == -3.0);
  CHECK(round_ps(inf) == inf);
  CHECK(std::isnan(round_ps(std::nan(""))));
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> ps(0.0, 1e13);
  for (int i = 0; i < 100000; ++i) {
    const double x = i % 2 == 0 ? ps(rng) : std::floor(ps(rng)) + 0.5;  // half of them exact ties
    REQUIRE(round_ps(x) == std::round(x));
  }
}
