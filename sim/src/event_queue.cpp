#include "ringlab/sim/event_queue.hpp"

namespace ringlab::sim {

void EventQueue::push(Time time, const Event& ev) {
  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slab_[slot] = ev;
  } else {
    slot = static_cast<std::uint32_t>(slab_.size());
    slab_.push_back(ev);
  }
  heap_.push_back(Entry{time, seq_++, slot});
  sift_up(heap_.size() - 1);
}

void EventQueue::pop(Time& time, Event& ev) {
  const Entry top = heap_.front();
  time = top.time;
  ev = slab_[top.slot];
  free_slots_.push_back(top.slot);
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
}

void EventQueue::reserve(std::size_t n) {
  heap_.reserve(n);
  slab_.reserve(n);
  free_slots_.reserve(n);
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
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t last = first + 4 < n ? first + 4 : n;
    for (std::size_t c = first + 1; c < last; ++c) {
      if (less(heap_[c], heap_[best])) best = c;
    }
    if (!less(heap_[best], e)) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = e;
}

}  // namespace ringlab::sim
