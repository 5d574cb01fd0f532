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

  EventQueue();
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
  /// Moves `slot`'s pending event (there must be one) to `time` with payload `ev`, keeping its seq:
  /// it pops where it would have had it been scheduled so when it was (FlowNetwork: a flow whose
  /// release was left for later after all needs its own event).
  void move_keeping_seq(Slot slot, Time time, const Event& ev);
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
  /// An event due after the last one popped, for prefetching: the one `ahead` places behind it in the
  /// FIFO it came from (each pops after about as many others as there are busy FIFOs). False when
  /// there is none, or the last pop came from the heap. It may be one since replaced.
  [[nodiscard]] bool upcoming(std::uint32_t ahead, Event& ev) const noexcept {
    if (popped_lane_ == kNowhere) return false;
    const Lane& l = lanes_[popped_lane_];
    if (l.tail - l.head <= ahead) return false;
    ev = payload(l.data[(l.head + ahead) & l.mask]);
    return true;
  }
  /// Reserves room for `n` pending events.
  void reserve(std::size_t n);
  /// Events pushed or scheduled so far.
  [[nodiscard]] std::uint64_t pushed() const noexcept { return seq_; }

 private:
  static constexpr std::uint32_t kNowhere = 0xffffffffU;
  static constexpr std::uint32_t kDead = 0xffffffffU;  // Entry::slot of a replaced lane entry
  static constexpr std::uint32_t kLanes = 8;
  static constexpr std::uint32_t kHeap = kLanes;       // Where::lane of a heap entry

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
  static constexpr U kNoKey = ~U{0};  // the head key of an empty lane
  // Lane k's head changed: its key, and the matches on its way up the tree.
  void head_changed(std::uint32_t k) noexcept {
    const Lane& l = lanes_[k];
    heads_[k] = l.head == l.tail ? kNoKey : key(head_of(l));
    for (std::uint32_t i = (kLanes + k) / 2; i >= 1; i /= 2) {
      const std::uint8_t a = win_[2 * i];
      const std::uint8_t b = win_[2 * i + 1];
      win_[i] = heads_[b] < heads_[a] ? b : a;
    }
  }
  // The earliest event is the heap's top or the head of the lane winning the tree.
  [[nodiscard]] bool heap_first() const noexcept { return !heap_.empty() && key(heap_.front()) < heads_[win_[1]]; }
  [[nodiscard]] const Entry& top() const noexcept {
    return heap_first() ? heap_.front() : head_of(lanes_[win_[1]]);
  }
  [[gnu::always_inline]] void place(const Entry& e);
  [[nodiscard]] std::uint32_t lane_for(std::int64_t time) noexcept;
  [[gnu::always_inline]] void lane_append(std::uint32_t k, const Entry& e);
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
  // Each lane's head key (kNoKey when empty), side by side, and a tournament tree over them: node i
  // (1 .. kLanes-1) holds the lane whose head is least among the leaves below it, leaf kLanes + k is
  // lane k. A head change replays the log2(kLanes) matches above its leaf; the earliest lane is win_[1].
  std::array<U, kLanes> heads_;
  std::array<std::uint8_t, 2 * kLanes> win_{};
  // Delay -> lane + 1 (0: none), open-addressed by a hash of the delay: binding a lane or finding a
  // delay's lane is one probe or a few, not a scan of the lanes.
  static constexpr std::uint32_t kIndex = 64;
  std::array<std::int64_t, kIndex> index_delay_{};
  std::array<std::uint8_t, kIndex> index_lane_{};
  std::uint32_t nonempty_ = 0;             // bit k: lane k has a live entry
  // Delays recently pushed that had no lane: a delay gets a lane when it recurs (one-off delays, such
  // as a kernel re-timed mid-run, would otherwise hold lanes for nothing).
  std::array<std::int64_t, 8> missed_{};
  std::uint32_t missed_next_ = 0;
  std::uint32_t popped_lane_ = kNowhere;   // the lane of the last pop (kNowhere: the heap)

  std::int64_t now_ = 0;                   // time of the last event popped
  std::uint64_t seq_ = 0;
  std::vector<Where> where_{Where{}};      // per slot (slot 0: the heap's sink)
  std::uint64_t superseded_ = 0;
};

}  // namespace ringlab::sim
