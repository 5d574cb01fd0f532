#pragma once
// A short list with room for two elements inline and a compact header (size, capacity, and the inline
// room doubling as the heap pointer): 16 bytes for 4- or 8-byte elements. boost's small_vector header
// alone is 24 bytes; with it a GPU's two lists took two cache lines, and a link's flow list pushed
// what a flow's start and finish touch out of the link's first line.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace ringlab::sim {

/// Elements in order; trivially copyable T only.
template <typename T>
class ShortList {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  ShortList() = default;
  ShortList(const ShortList& o) { *this = o; }
  ShortList& operator=(const ShortList& o) {
    if (this == &o) return *this;
    release();
    size_ = 0;
    for (const T& x : o) push_back(x);
    return *this;
  }
  ~ShortList() { release(); }
  [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] T* begin() noexcept { return cap_ == kInline ? inline_ : heap_; }
  [[nodiscard]] T* end() noexcept { return begin() + size_; }
  [[nodiscard]] const T* begin() const noexcept { return cap_ == kInline ? inline_ : heap_; }
  [[nodiscard]] const T* end() const noexcept { return begin() + size_; }
  T& operator[](std::size_t i) noexcept { return begin()[i]; }
  [[nodiscard]] T back() const noexcept { return begin()[size_ - 1]; }
  void pop_back() noexcept { --size_; }
  void push_back(T x) {
    if (size_ == cap_) {
      const std::uint32_t cap = 2 * cap_;
      T* p = new T[cap];
      std::copy(begin(), end(), p);
      release();
      heap_ = p;
      cap_ = cap;
    }
    begin()[size_++] = x;
  }
  void erase(T* at) noexcept {  // keeps the order of the rest
    std::copy(at + 1, end(), at);
    --size_;
  }
  /// Erases the first element equal to `x` (there must be one), keeping the order of the rest: no end
  /// to test while searching, since it is there.
  void erase_value(T x) noexcept {
    T* at = begin();
    while (!(*at == x)) ++at;
    erase(at);
  }

 private:
  static constexpr std::uint32_t kInline = 2;
  void release() noexcept {
    if (cap_ != kInline) delete[] heap_;
    cap_ = kInline;
  }
  union {
    T inline_[kInline];
    T* heap_;
  };
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = kInline;
};

}  // namespace ringlab::sim
