#pragma once
// The simulator's event queue. Events pop in (time, seq) order, `seq` being a push counter, so
// equal-time events pop in the order they were pushed and every run is deterministic.
//
// Most events are scheduled a recurring delay after the current instant (a transfer's fixed latency,
// a kernel's or a flow's duration alone: a ring's ranks all run the same few), and events pushed the
// same delay after a non-decreasing "now" are pushed in (time, seq) order. Such events go to a lane,
// a FIFO bound to that delay; the rest go to a vector-backed 4-ary min-heap. Popping takes the
// smallest of the heap's top and the lanes' heads, so the order is exactly that of one heap, while
// most events cost an append and a read instead of two sifts through a heap of thousands.
//
// Events whose time changes while pending (a kernel re-timed by interference, a flow by a new max-min
// rate) are scheduled through a slot: the queue knows where each slot's event is and replaces it,
// the new one taking a fresh seq exactly as a new push would, so nothing stale is left behind to be
// popped and dropped (with lazy cancellation those were ~30% of all events at large P). A replaced
// heap entry is moved in place; a replaced lane entry is marked dead and skipped when it reaches
// the lane's head.
// Nothing here allocates once the heap, the lanes and the slot table have grown to their working size.
#include <array>
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

/// A priority queue of events ordered by (time, push order).
class EventQueue {
 public:
  /// Names a re-timeable event: at most one event per slot is pending.
  using Slot = std::uint32_t;

  EventQueue() { heads_.fill(kNoKey); }
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
  [[nodiscard]] bool pending(Slot slot) const noexcept { return where_[slot].lane != kNowhere; }
  /// Pending events replaced or cancelled through their slot so far: the stale events lazy
  /// cancellation would have left in the queue (the simulator counts them as events processed).
  [[nodiscard]] std::uint64_t superseded() const noexcept { return superseded_; }
  /// True when no event is pending.
  [[nodiscard]] bool empty() const noexcept { return heap_.empty() && nonempty_ == 0; }
  /// Number of pending events.
  [[nodiscard]] std::size_t size() const noexcept;
  /// Time of the earliest event (queue must not be empty).
  [[nodiscard]] Time top_time() const noexcept { return Time(top().time); }
  /// The earliest event's payload (queue must not be empty), without removing it.
  [[nodiscard]] Event peek() const noexcept { return payload(top()); }
  /// Removes the earliest event, writing its time and payload.
  void pop(Time& time, Event& ev);
  /// Reserves room for `n` pending events.
  void reserve(std::size_t n);
  /// Events pushed or scheduled so far.
  [[nodiscard]] std::uint64_t pushed() const noexcept { return seq_; }

 private:
  static constexpr std::uint32_t kNowhere = 0xffffffffU;
  static constexpr std::uint32_t kDead = 0xffffffffU;  // Entry::slot of a replaced lane entry
  static constexpr std::uint32_t kLanes = 16;
  static constexpr std::uint32_t kHeap = kLanes;       // Where::lane of a heap entry
  static constexpr std::int32_t kStale = -2;           // best_ not known
  static constexpr std::int32_t kFromHeap = -1;        // best_: the heap's top

  // One pending event, payload inline (no slab to chase): 24 bytes. `key` is seq << 2 | type, so
  // comparing keys compares push order. `slot` is 0 for a plain push: slot 0 is a sink that every
  // heap move may write (no branch in the sift loops) and nobody reads.
  struct Entry {
    std::int64_t time;
    std::uint64_t key;
    std::uint32_t target;
    std::uint32_t slot;
  };
  // Where a slot's event is: heap index, or lane and that lane's running append count at the time.
  struct Where {
    std::uint32_t pos = 0;
    std::uint32_t lane = kNowhere;
  };
  // A FIFO of events pushed `delay` after the then-current instant: a ring buffer indexed by running
  // counts (wrapping is fine: the capacity is a power of two). Its head is never dead.
  struct Lane {
    std::int64_t delay = 0;
    std::int64_t last = 0;       // time of the newest entry (later appends must not be earlier)
    Entry* data = nullptr;       // ring's storage
    std::uint32_t mask = 0;      // ring's size - 1 (ring's size is a power of two, or 0)
    std::uint32_t head = 0;
    std::uint32_t tail = 0;
    std::uint32_t dead = 0;      // dead entries between head and tail
    bool bound = false;
    std::vector<Entry> ring;
  };

  // (time, key) as one 128-bit unsigned number, ordered as (time, seq): one compare.
  __extension__ using U = unsigned __int128;
  [[nodiscard]] static U key(const Entry& e) noexcept {
    constexpr std::uint64_t kSign = std::uint64_t{1} << 63;
    return static_cast<U>(static_cast<std::uint64_t>(e.time) ^ kSign) << 64 | e.key;
  }
  [[nodiscard]] static bool less(const Entry& a, const Entry& b) noexcept { return key(a) < key(b); }
  [[nodiscard]] static Event payload(const Entry& e) noexcept {
    return Event{static_cast<EventType>(e.key & 3U), e.target};
  }
  [[nodiscard]] static const Entry& head_of(const Lane& l) noexcept { return l.data[l.head & l.mask]; }
  static constexpr U kNoKey = ~U{0};  // heads_ of an empty lane
  void head_changed(std::uint32_t k) noexcept {
    const Lane& l = lanes_[k];
    heads_[k] = l.head == l.tail ? kNoKey : key(head_of(l));
  }
  [[nodiscard]] const Entry& top() const noexcept {
    if (best_ == kStale) find_best();
    return best_ == kFromHeap ? heap_.front() : head_of(lanes_[static_cast<std::size_t>(best_)]);
  }
  void find_best() const noexcept;
  // A candidate that may now be the earliest: keeps best_ current without a rescan.
  void offer(std::int32_t source, const Entry& e) noexcept {
    if (best_ != kStale && key(e) < (best_ == kFromHeap ? key(heap_.front()) : heads_[static_cast<std::size_t>(best_)])) {
      best_ = source;
    }
  }
  void place(const Entry& e);
  [[nodiscard]] std::uint32_t lane_for(std::int64_t time) noexcept;
  void lane_append(std::uint32_t k, const Entry& e);
  void lane_kill(std::uint32_t k, std::uint32_t pos) noexcept;
  void lane_skip_dead(std::uint32_t k) noexcept;
  void heap_set(std::size_t i, const Entry& e) noexcept {
    heap_[i] = e;
    where_[e.slot].pos = static_cast<std::uint32_t>(i);
  }
  void heap_push(const Entry& e);
  void heap_erase(std::size_t i) noexcept;
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  std::vector<Entry> heap_;
  std::array<Lane, kLanes> lanes_{};
  // Each lane's head key, side by side: finding the earliest event reads these, not the lanes' rings.
  std::array<U, kLanes> heads_;
  std::uint32_t nonempty_ = 0;             // bit k: lane k has a live entry
  // Delays recently pushed that had no lane: a delay gets a lane when it recurs (one-off delays, such
  // as a kernel re-timed mid-run, would otherwise hold lanes for nothing).
  std::array<std::int64_t, 8> missed_{};
  std::uint32_t missed_next_ = 0;
  mutable std::int32_t best_ = kStale;     // where the earliest event is (kFromHeap, a lane, kStale)
  std::int64_t now_ = 0;                   // time of the last event popped
  std::uint64_t seq_ = 0;
  std::vector<Where> where_{Where{}};      // per slot (slot 0: the heap's sink)
  std::uint64_t superseded_ = 0;
};

}  // namespace ringlab::sim
