#pragma once
// The simulator's event queue: a vector-backed 4-ary min-heap of {time, seq, slot} entries.
// `seq` (a counter) breaks ties so equal-time events pop in the order they were pushed, which makes
// every run deterministic; `slot` indexes a slab of small payload structs owned by the queue.
// Cancellation is lazy: a payload carries the generation of the object it targets, and the consumer
// drops an event whose generation no longer matches. Nothing here allocates once the heap and the
// slab have grown to their working size.
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
  [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
  /// Number of pending events (including lazily cancelled ones).
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
  /// Time of the earliest event (queue must not be empty).
  [[nodiscard]] Time top_time() const noexcept { return heap_.front().time; }
  /// Removes the earliest event, writing its time and payload.
  void pop(Time& time, Event& ev);
  /// Reserves room for `n` pending events.
  void reserve(std::size_t n);
  /// Events pushed so far.
  [[nodiscard]] std::uint64_t pushed() const noexcept { return seq_; }

 private:
  struct Entry {
    Time time;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  [[nodiscard]] static bool less(const Entry& a, const Entry& b) noexcept {
    return a.time.value < b.time.value || (a.time.value == b.time.value && a.seq < b.seq);
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  std::vector<Entry> heap_;
  std::vector<Event> slab_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t seq_ = 0;
};

}  // namespace ringlab::sim
