#pragma once
// A software prefetch the optimiser cannot delete.
//
// GCC treats __builtin_prefetch as free of side effects, so a function made only of prefetches (the
// simulator's prefetch stages) is found "pure" by its local-pure-const pass, and a call to a pure
// function whose result (void) is unused is deleted as dead code: every such prefetch vanished from
// the binary (no prefetch instruction in Simulator::run at -O2/-O3, 2026-11; GCC 12). The empty
// volatile asm naming the address is a side effect the compiler must keep, and with it the prefetch;
// it emits no instruction and clobbers nothing.
namespace ringlab::sim {

/// Starts loading the cache line at `p` (read, keep in all cache levels).
[[gnu::always_inline]] inline void prefetch(const void* p) noexcept {
  __builtin_prefetch(p);
  __asm__ __volatile__("" : : "r"(p));
}

/// The same, for a line about to be written.
[[gnu::always_inline]] inline void prefetch_write(const void* p) noexcept {
  __builtin_prefetch(p, 1);
  __asm__ __volatile__("" : : "r"(p));
}

}  // namespace ringlab::sim
