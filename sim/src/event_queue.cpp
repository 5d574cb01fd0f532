#include "ringlab/sim/event_queue.hpp"

namespace ringlab::sim {

void EventQueue::push(Time time, const Event& ev) {
  const Entry e{time.value, seq_++ << 2 | static_cast<std::uint64_t>(ev.type), ev.target, 0};
  if (now_head_ < now_fifo_.size()) {
    if (e.time == now_) {
      now_fifo_.push_back(e);
      return;
    }
    if (e.time < now_) flush_now();  // out of order (never from the simulator): back to the heap
  } else if (e.time == now_ && (heap_.empty() || heap_.front().time >= now_)) {
    now_fifo_.push_back(e);
    return;
  }
  heap_push(e);
}

EventQueue::Slot EventQueue::add_slot() {
  where_.push_back(kNowhere);
  return static_cast<Slot>(where_.size() - 1);
}

void EventQueue::schedule(Slot slot, Time time, const Event& ev) {
  const Entry e{time.value, seq_++ << 2 | static_cast<std::uint64_t>(ev.type), ev.target, slot};
  const std::uint32_t i = where_[slot];
  if (i == kNowhere) {
    heap_push(e);
    return;
  }
  ++superseded_;
  // The new key has a larger seq than the old, so it only moves up if its time is earlier.
  const bool up = e.time < heap_[i].time;
  heap_[i] = e;
  if (up) sift_up(i);
  else sift_down(i);
}

void EventQueue::cancel(Slot slot) {
  const std::uint32_t i = where_[slot];
  if (i == kNowhere) return;
  ++superseded_;
  where_[slot] = kNowhere;
  heap_erase(i);
}

void EventQueue::pop(Time& time, Event& ev) {
  if (fifo_first()) {
    const Entry& e = now_fifo_[now_head_++];
    time = Time(e.time);
    ev = payload(e);
    if (now_head_ == now_fifo_.size()) {
      now_fifo_.clear();
      now_head_ = 0;
    }
    return;
  }
  const Entry top = heap_.front();
  time = Time(top.time);
  ev = payload(top);
  now_ = top.time;
  where_[top.slot] = kNowhere;
  heap_erase(0);
}

void EventQueue::heap_push(const Entry& e) {
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

void EventQueue::flush_now() {
  for (std::size_t i = now_head_; i < now_fifo_.size(); ++i) {
    heap_push(now_fifo_[i]);
  }
  now_fifo_.clear();
  now_head_ = 0;
}

void EventQueue::reserve(std::size_t n) {
  heap_.reserve(n);
  where_.reserve(n);
  now_fifo_.reserve(n);
}

void EventQueue::sift_up(std::size_t i) noexcept {
  const Entry e = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!less(e, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
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
    place(i, heap_[best]);
    i = best;
  }
  place(i, e);
}

}  // namespace ringlab::sim
