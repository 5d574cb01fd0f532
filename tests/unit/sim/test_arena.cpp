// The simulator's huge-page arena: aligned, disjoint, writable allocations of any size, and the
// standard-allocator view of it that the simulator's tables use.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "ringlab/sim/huge_arena.hpp"

using namespace ringlab::sim::detail;

namespace {
std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
}  // namespace

TEST_CASE("huge arena: aligned, disjoint, writable; large requests get blocks of their own") {
  HugeArena a;
  CHECK(a.mapped() == 0);
  std::vector<std::pair<std::uintptr_t, std::size_t>> got;
  // Sizes from a byte to past one 2 MiB block, alignments 1 to 4096.
  const std::size_t sizes[] = {1, 7, 56, 64, 896, 4096, 100000, (std::size_t{2} << 20) + 1, 3 << 20, 0};
  const std::size_t aligns[] = {1, 8, 64, 4096};
  unsigned char fill = 1;
  for (int round = 0; round < 20; ++round) {
    for (const std::size_t n : sizes) {
      for (const std::size_t al : aligns) {
        void* p = a.allocate(n, al);
        REQUIRE(p != nullptr);
        CHECK(addr(p) % al == 0);
        const std::size_t len = std::max<std::size_t>(n, 1);
        std::memset(p, fill, len);  // writable (ASan builds check the bounds too)
        got.emplace_back(addr(p), len);
        fill = static_cast<unsigned char>(fill + 1);
      }
    }
  }
  std::sort(got.begin(), got.end());
  for (std::size_t i = 1; i < got.size(); ++i) {
    INFO("allocation ", i);
    CHECK(got[i - 1].first + got[i - 1].second <= got[i].first);  // no overlap
  }
  std::size_t total = 0;
  for (const auto& g : got) total += g.second;
  CHECK(a.mapped() >= total);
  if (HugeArena::on_huge_pages()) {
    // Whole 2 MiB pages, and not wildly more than asked (a block is as large as the arena so far: each
    // at most doubles it).
    CHECK(a.mapped() % (std::size_t{2} << 20) == 0);
    CHECK(a.mapped() <= 4 * total + (std::size_t{4} << 20));
  }
}

TEST_CASE("huge arena: the first block is 2 MiB-aligned, so the kernel can back it with a huge page") {
  HugeArena a;
  void* p = a.allocate(64, 64);
  if (HugeArena::on_huge_pages()) CHECK(addr(p) % (std::size_t{2} << 20) == 0);
}

TEST_CASE("arena vector: grows, keeps its elements, shares the arena") {
  HugeArena a;
  ArenaVector<std::uint64_t> v{ArenaAllocator<std::uint64_t>(a)};
  ArenaVector<std::uint32_t> w{ArenaAllocator<std::uint32_t>(a)};
  for (std::uint64_t i = 0; i < 100000; ++i) {
    v.push_back(i * i);
    if (i % 3 == 0) w.push_back(static_cast<std::uint32_t>(i));
  }
  for (std::uint64_t i = 0; i < 100000; ++i) REQUIRE(v[i] == i * i);
  for (std::size_t j = 0; j < w.size(); ++j) REQUIRE(w[j] == 3 * j);
  CHECK(v.get_allocator() == ArenaAllocator<std::uint32_t>(a));
  HugeArena b;
  CHECK(!(v.get_allocator() == ArenaAllocator<std::uint64_t>(b)));
  CHECK(a.mapped() >= 100000 * sizeof(std::uint64_t));
  CHECK(b.mapped() == 0);
}

namespace {
// The VmFlags line of the mapping of /proc/self/smaps that holds `p` ("" when there is none to read).
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0;
    unsigned long hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = addr(p) >= lo && addr(p) < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}
}  // namespace

TEST_CASE("huge arena: its blocks carry the kernel's huge-page advice (VmFlags 'hg')") {
  // What the arena is for: without MADV_HUGEPAGE on its blocks (in THP's default "madvise" mode) the
  // simulator's state is on 4 KiB pages again, and nothing else would notice.
  if (!HugeArena::on_huge_pages() || !std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) return;
  HugeArena a;
  void* p = a.allocate(1 << 20, 64);
  const std::string flags = vm_flags_of(p);
  REQUIRE(!flags.empty());
  INFO(flags);
  CHECK(flags.find(" hg") != std::string::npos);
}
