#pragma once
// Memory model: what one rank of a schedule holds on its GPU, whether it fits, and the longest
// sequence that fits. Formulas: docs/models.md, "Memory".
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/models/device.hpp"

namespace ringlab::models {

/// What the memory model adds to the IR's buffers.
struct MemoryOptions {
  /// Per-GPU memory the schedule cannot use: CUDA context and module images (~0.5 GiB on H100),
  /// cuBLAS/cuDNN workspaces, NCCL's per-peer FIFOs, allocator fragmentation. Default 1 GiB.
  Bytes framework_overhead{std::int64_t{1} << 30};
};

/// One rank's footprint, by origin.
struct RankMemory {
  Bytes buffers{0};    ///< sum of the rank's ir::Buffer bytes (the IR's own list)
  Bytes workspace{0};  ///< largest kernel workspace of any of its ops (kernel_workspace)
  Bytes overhead{0};   ///< MemoryOptions::framework_overhead
  /// buffers + workspace + overhead.
  [[nodiscard]] Bytes total() const noexcept { return buffers + workspace + overhead; }
};

/// Result of checking a schedule against a device.
struct MemoryCheck {
  std::vector<RankMemory> ranks;  ///< one per rank
  std::size_t peak_rank = 0;      ///< the rank with the largest total
  Bytes peak{0};                  ///< its total
  Bytes capacity{0};              ///< the device's capacity
  /// Whether every rank fits.
  [[nodiscard]] bool fits() const noexcept { return peak <= capacity; }
};

/// Transient workspace an op allocates beyond the IR's buffers. FlashAttention-2's forward allocates
/// none (out and lse are IR buffers). Its backward allocates fp32 dq_accum [B][q_rows128][heads][d],
/// softmax_d and lse_log2 [B][heads][q_rows128]: 4 * B * heads * q_rows128 * (d + 2) bytes, with
/// q_rows128 = q_rows rounded up to a multiple of 128. Other ops: 0.
[[nodiscard]] Bytes op_workspace(const ir::OpKind& op, const ir::Workload& w) noexcept;
/// Largest op_workspace over a rank's ops (kernels of one stream run one at a time, and the
/// workspace-allocating kernels all run on the compute stream).
[[nodiscard]] Bytes kernel_workspace(const ir::RankProgram& rank, const ir::Workload& w) noexcept;
/// Footprint of rank `r` of `s`.
[[nodiscard]] RankMemory rank_memory(const ir::Schedule& s, std::size_t r, const MemoryOptions& opt = {});
/// The same for one rank's program (of a schedule of workload `w`), e.g. one read from a ScheduleSource.
[[nodiscard]] RankMemory rank_memory(const ir::Workload& w, const ir::RankProgram& rank, const MemoryOptions& opt = {});
/// Footprint of every rank against `device`'s capacity.
[[nodiscard]] MemoryCheck check_memory(const ir::Schedule& s, const DeviceSpec& device, const MemoryOptions& opt = {});

/// The seq_len granularity of `spec`: the smallest of P, 2P, 4P that ir::check_spec accepts
/// (P for ring, ring_serial and allgather). Throws ValidationError if the spec is invalid for a
/// reason other than seq_len.
[[nodiscard]] std::int64_t seq_len_step(const ir::Workload& w, const ir::ScheduleSpec& spec);

/// The largest seq_len (a multiple of seq_len_step) whose schedule, from ir::generate, fits on
/// `device` on every rank; 0 if not even one step fits. `w.seq_len` is ignored. The search doubles
/// then bisects (about 2*log2(result/step) generations) and stops at kMaxSearchSeqLen.
[[nodiscard]] std::int64_t max_seq_len(const ir::Workload& w, const ir::ScheduleSpec& spec, const DeviceSpec& device,
                                       const MemoryOptions& opt = {});

/// Upper end of max_seq_len's search (2^34 tokens), far beyond any GPU memory but safe from overflow.
inline constexpr std::int64_t kMaxSearchSeqLen = std::int64_t{1} << 34;

}  // namespace ringlab::models
