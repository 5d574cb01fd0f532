#include "ringlab/sim/event_queue.hpp"

#include "ringlab/sim/prefetch.hpp"

#include <algorithm>
#include <bit>

namespace ringlab::sim {

namespace {
std::uint32_t delay_hash(std::int64_t delay) noexcept {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(delay) * 0x9e3779b97f4a7c15ULL) >> 58);
}
}  // namespace

EventQueue::EventQueue() {
  static_assert(std::has_single_bit(kLanes) && kLanes <= 255);
  static_assert(std::has_single_bit(kIndex) && kIndex == 64);  // delay_hash gives 6 bits
  heads_.fill(kNoKey);
  for (std::uint32_t k = 0; k < kLanes; ++k) win_[kLanes + k] = static_cast<std::uint8_t>(k);
  for (std::uint32_t i = kLanes - 1; i >= 1; --i) win_[i] = win_[2 * i];
}

void EventQueue::push(Time time, const Event& ev) {
  place(Entry{time.value, seq_++ << 2 | static_cast<std::uint64_t>(ev.type), ev.target, 0});
}

EventQueue::Slot EventQueue::add_slot() {
  where_.emplace_back();
  return static_cast<Slot>(where_.size() - 1);
}

void EventQueue::schedule(Slot slot, Time time, const Event& ev) {
  const Entry e{time.value, seq_++ << 2 | static_cast<std::uint64_t>(ev.type), ev.target, slot};
  const Where w = where_[slot];
  if (w.lane == kNowhere) {
    place(e);
    return;
  }
  ++superseded_;
  if (w.lane != kHeap) {
    lane_kill(w.lane, w.pos);
    place(e);
    return;
  }
  const std::uint32_t k = lane_for(e.time);
  if (k != kNowhere) {
    heap_erase(w.pos);
    lane_append(k, e);
    return;
  }
  // Heap to heap: move it in place. The new key has a larger seq than the old, so it only moves up
  // if its time is earlier.
  const bool up = e.time < heap_[w.pos].time;
  heap_[w.pos] = e;
  if (up) sift_up(w.pos);
  else sift_down(w.pos);
}

void EventQueue::cancel(Slot slot) {
  const Where w = where_[slot];
  if (w.lane == kNowhere) return;
  ++superseded_;
  if (w.lane == kHeap) {
    where_[slot].lane = kNowhere;
    heap_erase(w.pos);
  } else {
    lane_kill(w.lane, w.pos);
  }
}

void EventQueue::move_keeping_seq(Slot slot, Time time, const Event& ev) {
  const Where w = where_[slot];
  const Entry& old = w.lane == kHeap ? heap_[w.pos] : lanes_[w.lane].data[w.pos & lanes_[w.lane].mask];
  // The heap takes any key; a lane only keys in push order.
  const Entry e{time.value, (old.key & ~std::uint64_t{3}) | static_cast<std::uint64_t>(ev.type), ev.target, slot};
  ++superseded_;
  if (w.lane == kHeap) {
    heap_erase(w.pos);
  } else {
    lane_kill(w.lane, w.pos);
  }
  heap_push(e);
}

std::size_t EventQueue::size() const noexcept {
  std::size_t n = heap_.size();
  for (const Lane& l : lanes_) n += l.tail - l.head - l.dead;
  return n;
}

void EventQueue::pop(Time& time, Event& ev) {
  if (heap_first()) {
    const Entry top = heap_.front();
    time = Time(top.time);
    ev = payload(top);
    now_ = top.time;
    where_[top.slot].lane = kNowhere;
    heap_erase(0);
    popped_lane_ = kNowhere;
    return;
  }
  const std::uint32_t k = win_[1];
  Lane& l = lanes_[k];
  const Entry& e = head_of(l);
  time = Time(e.time);
  ev = payload(e);
  now_ = e.time;
  if (e.slot != 0) where_[e.slot].lane = kNowhere;
  ++l.head;
  prefetch(&l.data[(l.head + 4) & l.mask]);  // the pops to come
  lane_skip_dead(k);
  popped_lane_ = k;
}

void EventQueue::reserve(std::size_t n) { heap_.reserve(n); }

inline void EventQueue::place(const Entry& e) {
  const std::uint32_t k = lane_for(e.time);
  if (k != kNowhere) lane_append(k, e);
  else heap_push(e);
}

// The lane for an event at `time` (kNowhere: the heap). An unbound delay that recurs takes a lane
// that is empty; a lane keeps its delay while it has entries.
std::uint32_t EventQueue::lane_for(std::int64_t time) noexcept {
  const std::int64_t delay = time - now_;
  if (delay < 0) return kNowhere;  // never from the simulator: its events are never in the past
  for (std::uint32_t h = delay_hash(delay); index_lane_[h] != 0; h = (h + 1) % kIndex) {
    if (index_delay_[h] == delay) {
      const std::uint32_t k = index_lane_[h] - 1U;
      return time >= lanes_[k].last ? k : kNowhere;
    }
  }
  if (std::find(missed_.begin(), missed_.end(), delay) == missed_.end()) {
    missed_[missed_next_] = delay;
    missed_next_ = (missed_next_ + 1) % static_cast<std::uint32_t>(missed_.size());
    return kNowhere;
  }
  for (std::uint32_t k = 0; k < kLanes; ++k) {
    Lane& l = lanes_[k];
    if (l.head == l.tail) {
      l.bound = true;
      l.delay = delay;
      l.last = time;
      // Rebuild the index: binding is rare next to lookups (and this drops the lane's old delay).
      index_lane_.fill(0);
      for (std::uint32_t j = 0; j < kLanes; ++j) {
        if (!lanes_[j].bound) continue;
        std::uint32_t h = delay_hash(lanes_[j].delay);
        while (index_lane_[h] != 0) h = (h + 1) % kIndex;
        index_delay_[h] = lanes_[j].delay;
        index_lane_[h] = static_cast<std::uint8_t>(j + 1);
      }
      return k;
    }
  }
  return kNowhere;
}

inline void EventQueue::lane_append(std::uint32_t k, const Entry& e) {
  Lane& l = lanes_[k];
  if (l.tail - l.head == l.ring.size()) {
    // Full: double it. Entries keep their running counts, so slots' positions stay valid.
    std::vector<Entry> bigger(std::max<std::size_t>(16, 2 * l.ring.size()));
    const auto mask = static_cast<std::uint32_t>(bigger.size() - 1);
    for (std::uint32_t i = l.head; i != l.tail; ++i) bigger[i & mask] = l.data[i & l.mask];
    l.ring = std::move(bigger);
    l.data = l.ring.data();
    l.mask = mask;
  }
  l.data[l.tail & l.mask] = e;
  if (e.slot != 0) where_[e.slot] = Where{l.tail, k};
  ++l.tail;
  // A lane's ring is revisited a lap later, long out of cache: fetch the line of the appends to come.
  prefetch_write(&l.data[(l.tail + 4) & l.mask]);
  l.last = e.time;
  if (l.tail - l.head == 1) {
    nonempty_ |= 1U << k;
    head_changed(k);
  }
}

// Marks a replaced lane entry dead. Only a dead head can change what pops next.
void EventQueue::lane_kill(std::uint32_t k, std::uint32_t pos) noexcept {
  Lane& l = lanes_[k];
  Entry& e = l.data[pos & l.mask];
  where_[e.slot].lane = kNowhere;
  e.slot = kDead;
  ++l.dead;
  if (pos == l.head) lane_skip_dead(k);
}

// Drops dead entries at the head; keeps `nonempty_` current.
void EventQueue::lane_skip_dead(std::uint32_t k) noexcept {
  Lane& l = lanes_[k];
  while (l.head != l.tail && l.data[l.head & l.mask].slot == kDead) {
    ++l.head;
    --l.dead;
  }
  if (l.head == l.tail) nonempty_ &= ~(1U << k);
  head_changed(k);
}

void EventQueue::heap_push(const Entry& e) {
  where_[e.slot].lane = kHeap;
  heap_.push_back(e);
  sift_up(heap_.size() - 1);
}

// Removes entry i: the last entry takes its place and moves whichever way restores the heap.
void EventQueue::heap_erase(std::size_t i) noexcept {
  const Entry last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  const bool up = i > 0 && less(last, heap_[(i - 1) / 4]);
  heap_[i] = last;
  if (up) sift_up(i);
  else sift_down(i);
}

void EventQueue::sift_up(std::size_t i) noexcept {
  const Entry e = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!less(e, heap_[parent])) break;
    heap_set(i, heap_[parent]);
    i = parent;
  }
  heap_set(i, e);
}

void EventQueue::sift_down(std::size_t i) noexcept {
  const std::size_t n = heap_.size();
  const Entry e = heap_[i];
  const U ke = key(e);
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    U kb = key(heap_[first]);
    if (first + 4 <= n) {
      // All four children: a two-round tournament of selects, no data-dependent branches (which
      // child is smallest is a coin toss the branch predictor loses).
      const U k1 = key(heap_[first + 1]);
      const U k2 = key(heap_[first + 2]);
      const U k3 = key(heap_[first + 3]);
      const bool l01 = k1 < kb;
      const bool l23 = k3 < k2;
      const std::size_t a = l01 ? first + 1 : first;
      const U ka = l01 ? k1 : kb;
      const std::size_t c = l23 ? first + 3 : first + 2;
      const U kc = l23 ? k3 : k2;
      const bool lac = kc < ka;
      best = lac ? c : a;
      kb = lac ? kc : ka;
    } else {
      for (std::size_t c = first + 1; c < n; ++c) {
        const U kc = key(heap_[c]);
        if (kc < kb) {
          kb = kc;
          best = c;
        }
      }
    }
    if (!(kb < ke)) break;
    heap_set(i, heap_[best]);
    i = best;
  }
  heap_set(i, e);
}

}  // namespace ringlab::sim
