#include "ringlab/sim/event_queue.hpp"

namespace ringlab::sim {

void EventQueue::push(Time time, const Event& ev) {
  const Entry e{time.value, seq_++ << 2 | static_cast<std::uint64_t>(ev.type), ev.target, ev.generation};
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
  heap_.push_back(e);
  sift_up(heap_.size() - 1);
}

void EventQueue::pop(Time& time, Event& ev) {
  if (now_head_ < now_fifo_.size() && (heap_.empty() || heap_.front().time != now_)) {
    // Heap entries of this instant were pushed before it began: they go first (smaller seq).
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
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
}

void EventQueue::flush_now() {
  for (std::size_t i = now_head_; i < now_fifo_.size(); ++i) {
    heap_.push_back(now_fifo_[i]);
    sift_up(heap_.size() - 1);
  }
  now_fifo_.clear();
  now_head_ = 0;
}

void EventQueue::reserve(std::size_t n) {
  heap_.reserve(n);
  now_fifo_.reserve(n);
}

void EventQueue::sift_up(std::size_t i) noexcept {
  const Entry e = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!less(e, heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
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
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = e;
}

}  // namespace ringlab::sim
