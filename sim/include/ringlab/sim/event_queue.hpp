#pragma once
// The simulator's event queue: a vector-backed 4-ary min-heap of {time, seq, payload} entries, plus a
// FIFO for events pushed at the current instant (a zero-duration op completes "now": no heap work).
// `seq` (a counter) breaks ties so equal-time events pop in the order they were pushed, which makes
// every run deterministic.
// Events whose time changes while pending (a kernel re-timed by interference, a flow by a new max-min
// rate) are scheduled through a slot: the queue knows where each slot's event sits and moves it in
// place, giving it a fresh seq exactly as a new push would, so nothing stale is left behind to be
// popped and dropped (with lazy cancellation they were ~30% of all events at large P).
// Nothing here allocates once the heap, the FIFO and the slot table have grown to their working size.
#include <cstdint>
#include <vector>

#include "ringlab/core/units.hpp"

namespace ringlab::sim {

/// What an event does when it fires.
enum class EventType : std::uint8_t {
  compute_done,   ///< a GPU work item finished
  timed_done,     ///< an op with a fixed duration finished
  flow_done,      ///< a network flow delivered its last byte
  transfer_done,  ///< a transfer's fixed latency elapsed: both sides complete
};

/// The payload of one event.
struct Event {
  EventType type = EventType::timed_done;  ///< what to do
  std::uint32_t target = 0;                ///< index of the work item, op, flow or transfer
};

/// A 4-ary min-heap of events ordered by (time, seq).
class EventQueue {
 public:
  /// Names a re-timeable event: at most one event per slot is pending.
  using Slot = std::uint32_t;

  EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  /// Schedules `ev` at `time`.
  void push(Time time, const Event& ev);
  /// A new slot, with no event pending.
  [[nodiscard]] Slot add_slot();
  /// Schedules `ev` at `time` as `slot`'s event. If the slot already has one pending, that one is
  /// replaced: it pops where a push of `ev` at this point would, and the old one never pops.
  void schedule(Slot slot, Time time, const Event& ev);
  /// Removes `slot`'s pending event, if any.
  void cancel(Slot slot);
  /// True when `slot` has an event pending.
  [[nodiscard]] bool pending(Slot slot) const noexcept { return where_[slot] != kNowhere; }
  /// Pending events replaced or cancelled through their slot so far: the stale events lazy
  /// cancellation would have left in the queue (the simulator counts them as events processed).
  [[nodiscard]] std::uint64_t superseded() const noexcept { return superseded_; }
  /// True when no event is pending.
  [[nodiscard]] bool empty() const noexcept { return heap_.empty() && now_head_ == now_fifo_.size(); }
  /// Number of pending events.
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size() + (now_fifo_.size() - now_head_); }
  /// Time of the earliest event (queue must not be empty).
  [[nodiscard]] Time top_time() const noexcept {
    return Time(now_head_ < now_fifo_.size() ? now_ : heap_.front().time);
  }
  /// The earliest event's payload (queue must not be empty), without removing it.
  [[nodiscard]] Event peek() const noexcept { return payload(fifo_first() ? now_fifo_[now_head_] : heap_.front()); }
  /// Removes the earliest event, writing its time and payload.
  void pop(Time& time, Event& ev);
  /// Reserves room for `n` pending events.
  void reserve(std::size_t n);
  /// Events pushed or scheduled so far.
  [[nodiscard]] std::uint64_t pushed() const noexcept { return seq_; }

 private:
  static constexpr std::uint32_t kNowhere = 0xffffffffU;
  // One pending event, payload inline (no slab to chase): 24 bytes. `key` is seq << 2 | type, so
  // comparing keys compares push order. `slot` is 0 for a plain push: slot 0 is a sink that every
  // move may write (no branch in the sift loops) and nobody reads.
  struct Entry {
    std::int64_t time;
    std::uint64_t key;
    std::uint32_t target;
    std::uint32_t slot;
  };
  // (time, key) as one 128-bit unsigned number, ordered as (time, seq): one compare.
  __extension__ using U = unsigned __int128;
  [[nodiscard]] static U key(const Entry& e) noexcept {
    constexpr std::uint64_t kSign = std::uint64_t{1} << 63;
    return static_cast<U>(static_cast<std::uint64_t>(e.time) ^ kSign) << 64 | e.key;
  }
  [[nodiscard]] static bool less(const Entry& a, const Entry& b) noexcept { return key(a) < key(b); }
  // Whether the FIFO's head pops before the heap's top. Slotted events never enter the FIFO (it
  // cannot move them), so a heap entry of the current instant may follow FIFO entries in seq order.
  [[nodiscard]] bool fifo_first() const noexcept {
    return now_head_ < now_fifo_.size() && (heap_.empty() || less(now_fifo_[now_head_], heap_.front()));
  }
  void place(std::size_t i, const Entry& e) noexcept {
    heap_[i] = e;
    where_[e.slot] = static_cast<std::uint32_t>(i);
  }
  void heap_push(const Entry& e);
  void heap_erase(std::size_t i) noexcept;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void flush_now();
  [[nodiscard]] static Event payload(const Entry& e) noexcept {
    return Event{static_cast<EventType>(e.key & 3U), e.target};
  }

  std::vector<Entry> heap_;
  // Events pushed for the instant being processed (time == now_, the time last popped) skip the heap:
  // they are later in (time, seq) order than every heap entry of that instant pushed before them and
  // earlier than every later one, so a FIFO keeps them in order. Invariant while it is non-empty: all
  // its entries have time now_, and no heap entry has a smaller time.
  std::vector<Entry> now_fifo_;
  std::size_t now_head_ = 0;
  std::int64_t now_ = 0;
  std::uint64_t seq_ = 0;
  std::vector<std::uint32_t> where_{kNowhere};  // per slot: heap index of its event (slot 0: sink)
  std::uint64_t superseded_ = 0;
};

}  // namespace ringlab::sim
