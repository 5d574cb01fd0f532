#include "ringlab/sim/huge_arena.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#define RINGLAB_ARENA_FROM_NEW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLAB_ARENA_FROM_NEW 1
#endif
#endif

namespace ringlab::sim::detail {

#ifndef RINGLAB_ARENA_FROM_NEW
namespace {

constexpr std::size_t kHuge = std::size_t{2} << 20;      // an x86-64 huge page
constexpr std::size_t kMaxBlock = std::size_t{64} << 20;  // blocks grow with the arena up to this

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace
#endif

HugeArena::~HugeArena() {
  for (const Block& b : blocks_) {
#ifdef RINGLAB_ARENA_FROM_NEW
    ::operator delete(b.base, std::align_val_t{b.align});
#else
    ::munmap(b.base, b.size);
#endif
  }
}

bool HugeArena::on_huge_pages() noexcept {
#ifdef RINGLAB_ARENA_FROM_NEW
  return false;
#else
  return true;
#endif
}

void* HugeArena::allocate(std::size_t bytes, std::size_t align) {
  if (bytes == 0) bytes = 1;
#ifdef RINGLAB_ARENA_FROM_NEW
  align = std::max<std::size_t>(align, alignof(std::max_align_t));
  blocks_.reserve(blocks_.size() + 1);  // (so that recording the block cannot throw and leak it)
  void* p = ::operator new(bytes, std::align_val_t{align});
  blocks_.push_back(Block{p, bytes, align});
  mapped_ += bytes;
  return p;
#else
  auto at = reinterpret_cast<std::uintptr_t>(next_);
  at = round_up(at, align);
  if (next_ == nullptr || at + bytes > reinterpret_cast<std::uintptr_t>(end_)) {
    if (bytes > (std::size_t{1} << 62)) throw std::bad_alloc();  // (no overflow below)
    // A new block, 2 MiB-aligned so the kernel can back it with huge pages: as large as the arena so far
    // (few blocks however many ranks), at least the request.
    const std::size_t size = round_up(std::max({bytes + align, std::min(mapped_, kMaxBlock), kHuge}), kHuge);
    blocks_.reserve(blocks_.size() + 1);  // (so that recording the block cannot throw and leak it)
    void* raw = ::mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t start = round_up(base, kHuge);
    if (start > base) ::munmap(raw, start - base);  // the unaligned head and tail go back
    if (const std::uintptr_t tail = base + size + kHuge - (start + size); tail > 0) {
      ::munmap(reinterpret_cast<void*>(start + size), tail);
    }
    char* block = reinterpret_cast<char*>(start);
#ifdef MADV_HUGEPAGE
    ::madvise(block, size, MADV_HUGEPAGE);  // a hint: without THP these are ordinary pages
#endif
    blocks_.push_back(Block{block, size, kHuge});
    mapped_ += size;
    next_ = block;
    end_ = block + size;
    at = round_up(reinterpret_cast<std::uintptr_t>(next_), align);
  }
  next_ = reinterpret_cast<char*>(at + bytes);
  return reinterpret_cast<void*>(at);
#endif
}

}  // namespace ringlab::sim::detail
