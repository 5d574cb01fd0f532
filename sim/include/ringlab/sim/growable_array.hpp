#pragma once
// The simulator's per-op records: a growable array of trivially copyable values, mapped directly and
// marked for transparent huge pages (see docs/simulator.md, "scale").
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

namespace ringlab::sim {

/// Appended to while a schedule is compiled (its size is not known in advance: ranks are streamed),
/// then indexed in the run loop. Growing moves the pages with mremap (page tables, no copy) to a fresh
/// 2 MiB-aligned range, so the array stays contiguous (one load per access) and in huge pages. At large
/// P it is gigabytes: with 4 KiB pages its first touch (a fault per 4 KiB) and the run's scattered
/// accesses (a TLB miss per rank visited) dominated the simulation. Linux only (mremap).
template <typename T>
class GrowableArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;  ///< x86-64 PMD size
  static constexpr std::size_t kFirstBytes = 16 * kHugePage;       ///< first mapping (address space only)

  GrowableArray() = default;
  GrowableArray(const GrowableArray&) = delete;
  GrowableArray& operator=(const GrowableArray&) = delete;
  ~GrowableArray() {
    if (data_ != nullptr) ::munmap(data_, mapped_);
  }
  /// A new value-initialised record at the end. Invalidates references when it grows.
  T& append() {
    if (size_ == capacity_) grow();
    T* t = new (data_ + size_) T{};
    ++size_;
    return *t;
  }
  /// Exactly `n` records; new ones all zero bytes.
  void resize(std::size_t n) {
    while (capacity_ < n) grow();
    if (n > size_) std::memset(static_cast<void*>(data_ + size_), 0, (n - size_) * sizeof(T));
    size_ = n;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }            ///< records appended
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }    ///< records mapped
  [[nodiscard]] const T* data() const noexcept { return data_; }               ///< the first record
  T& operator[](std::size_t i) noexcept { return data_[i]; }                   ///< record i (< size())
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }       ///< record i (< size())

 private:
  void grow() {
    // Whole huge pages, doubling.
    std::size_t bytes = std::max(2 * mapped_, kFirstBytes);
    bytes = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    // Reserve one huge page more than needed and keep its first 2 MiB-aligned part.
    void* r = ::mmap(nullptr, bytes + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<std::uintptr_t>(r);
    const std::uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) ::munmap(r, aligned - base);
    const std::uintptr_t tail = base + bytes + kHugePage - (aligned + bytes);
    if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    void* to = reinterpret_cast<void*>(aligned);
    void* p = data_ == nullptr
                  ? ::mmap(to, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
                  : ::mremap(data_, mapped_, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (p == MAP_FAILED) {
      ::munmap(to, bytes);
      throw std::bad_alloc();
    }
    ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP it is 4 KiB pages, still correct
    data_ = static_cast<T*>(p);
    mapped_ = bytes;
    capacity_ = bytes / sizeof(T);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace ringlab::sim
