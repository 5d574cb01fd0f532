#pragma once
// The simulator's event queue: a vector-backed 4-ary min-heap of {time, seq, payload} entries, plus a
// FIFO for events pushed at the current instant (a zero-duration op completes "now": no heap work).
// `seq` (a counter) breaks ties so equal-time events pop in the order they were pushed, which makes
// every run deterministic.
// Cancellation is lazy: a payload carries the generation of the object it targets, and the consumer
// drops an event whose generation no longer matches. Nothing here allocates once the heap and the
// FIFO have grown to their working size.
#include <cstdint>
#include <vector>

#include "ringlab/core/units.hpp"

namespace ringlab::sim {

/// What an event does when it fires.
enum class EventType : std::uint8_t {
  compute_done,   ///< a GPU work item may have finished (check its generation)
  timed_done,     ///< an op with a fixed duration finished
  flow_done,      ///< a network flow may have delivered its last byte (check its generation)
  transfer_done,  ///< a transfer's fixed latency elapsed: both sides complete
};

/// The payload of one event (kept small: 12 bytes).
struct Event {
  EventType type = EventType::timed_done;  ///< what to do
  std::uint32_t target = 0;                ///< index of the work item, op, flow or transfer
  std::uint32_t generation = 0;            ///< target's generation when scheduled (lazy cancellation)
};

/// A 4-ary min-heap of events ordered by (time, seq).
class EventQueue {
 public:
  EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  /// Schedules `ev` at `time`.
  void push(Time time, const Event& ev);
  /// True when no event is pending.
  [[nodiscard]] bool empty() const noexcept { return heap_.empty() && now_head_ == now_fifo_.size(); }
  /// Number of pending events (including lazily cancelled ones).
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size() + (now_fifo_.size() - now_head_); }
  /// Time of the earliest event (queue must not be empty).
  [[nodiscard]] Time top_time() const noexcept {
    return Time(now_head_ < now_fifo_.size() ? now_ : heap_.front().time);
  }
  /// The earliest event's payload (queue must not be empty), without removing it.
  [[nodiscard]] Event peek() const noexcept {
    if (now_head_ < now_fifo_.size() && (heap_.empty() || heap_.front().time != now_)) {
      return payload(now_fifo_[now_head_]);
    }
    return payload(heap_.front());
  }
  /// Removes the earliest event, writing its time and payload.
  void pop(Time& time, Event& ev);
  /// Reserves room for `n` pending events.
  void reserve(std::size_t n);
  /// Events pushed so far.
  [[nodiscard]] std::uint64_t pushed() const noexcept { return seq_; }

 private:
  // One pending event, payload inline (no slab to chase): 24 bytes. `key` is seq << 2 | type, so
  // comparing keys compares push order.
  struct Entry {
    std::int64_t time;
    std::uint64_t key;
    std::uint32_t target;
    std::uint32_t generation;
  };
  // (time, key) as one 128-bit unsigned number, ordered as (time, seq): one compare.
  __extension__ using U = unsigned __int128;
  [[nodiscard]] static U key(const Entry& e) noexcept {
    constexpr std::uint64_t kSign = std::uint64_t{1} << 63;
    return static_cast<U>(static_cast<std::uint64_t>(e.time) ^ kSign) << 64 | e.key;
  }
  [[nodiscard]] static bool less(const Entry& a, const Entry& b) noexcept { return key(a) < key(b); }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void flush_now();
  [[nodiscard]] static Event payload(const Entry& e) noexcept {
    return Event{static_cast<EventType>(e.key & 3U), e.target, e.generation};
  }

  std::vector<Entry> heap_;
  // Events pushed for the instant being processed (time == now_, the time last popped) skip the heap:
  // they are later in (time, seq) order than every heap entry of that instant and earlier than every
  // later one, so a FIFO keeps them in order. Invariant while it is non-empty: all its entries have
  // time now_, and no heap entry has a smaller time.
  std::vector<Entry> now_fifo_;
  std::size_t now_head_ = 0;
  std::int64_t now_ = 0;
  std::uint64_t seq_ = 0;
};

}  // namespace ringlab::sim
