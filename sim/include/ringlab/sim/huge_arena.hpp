#pragma once
// Memory for the state the simulator's events touch (the rank records, feeds and windows, the per-GPU,
// price and in-flight tables, the flow network's links, paths and flows), handed out from a few large
// blocks that ask the kernel for transparent huge pages (madvise(MADV_HUGEPAGE); a hint: where THP is
// off, or set to "never", they are ordinary pages). At thousands of ranks every event touches another
// rank's state, ~28 cache lines spread over ~10 MB, and on 4 KiB pages that is more pages than the TLB
// holds: each of those misses began with a page walk. Nothing is freed before the arena is (a table or
// window that grows leaves its old copy: they double, so that is at most as much again). Under
// AddressSanitizer every allocation comes from operator new instead, so ASan still sees its bounds.
#include <cstddef>
#include <new>
#include <vector>

namespace ringlab::sim::detail {

class HugeArena {
 public:
  HugeArena() = default;
  HugeArena(const HugeArena&) = delete;
  HugeArena& operator=(const HugeArena&) = delete;
  ~HugeArena();

  /// `bytes` aligned to `align` (a power of two, at most 4096); throws std::bad_alloc when none is left.
  [[nodiscard]] void* allocate(std::size_t bytes, std::size_t align);
  /// Bytes mapped so far (with the huge-page hint where the arena maps its own blocks).
  [[nodiscard]] std::size_t mapped() const noexcept { return mapped_; }
  /// Whether this build maps its own 2 MiB-aligned blocks with the hint (false under ASan).
  [[nodiscard]] static bool on_huge_pages() noexcept;

 private:
  struct Block {
    void* base;
    std::size_t size;
    std::size_t align;
  };
  std::vector<Block> blocks_;  // mmap'd blocks, or under ASan one operator new per allocation
  char* next_ = nullptr;
  char* end_ = nullptr;
  std::size_t mapped_ = 0;
};

/// A standard allocator over a HugeArena (deallocate does nothing: the arena frees everything at once).
template <class T>
struct ArenaAllocator {
  using value_type = T;
  HugeArena* arena;
  explicit ArenaAllocator(HugeArena& a) noexcept : arena(&a) {}
  template <class U>
  explicit ArenaAllocator(const ArenaAllocator<U>& o) noexcept : arena(o.arena) {}
  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(arena->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* /*p*/, std::size_t /*n*/) noexcept {}
  template <class U>
  friend bool operator==(const ArenaAllocator& a, const ArenaAllocator<U>& b) noexcept {
    return a.arena == b.arena;
  }
};

template <class T>
using ArenaVector = std::vector<T, ArenaAllocator<T>>;

}  // namespace ringlab::sim::detail
