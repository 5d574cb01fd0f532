#pragma once
// Host-side access to the attention kernels for tests and benchmarks, without CUDA headers: upload
// float data, run one block on device 0, download the result; or time the kernel in place.
#include <cstdint>
#include <string>
#include <vector>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::runtime::cuda {

/// One block of attention in the token-major layouts of docs/ir.md: q [tq][B][H][d],
/// kv [tk][B][2][G][d] (K then V of each token), out [tq][B][H][d], lse [tq][B][H] fp32.
struct BlockProblem {
  std::int64_t batch = 1;     ///< B
  std::int64_t q_heads = 1;   ///< H
  std::int64_t kv_heads = 1;  ///< G (divides H)
  std::int64_t head_dim = 64;  ///< d
  ir::DType dtype = ir::DType::bf16;  ///< element type of q, kv, out
  bool causal = false;         ///< apply the causal mask from the positions
  std::int64_t window = 0;     ///< sliding window (0 = none), as ir::Workload::window
  std::vector<std::int32_t> q_positions;  ///< global position of each q row (tq of them)
  std::vector<std::int32_t> k_positions;  ///< global position of each kv row (tk of them)
  bool force_simt = false;     ///< run the SIMT kernel even where tensor cores exist
};

/// What a block computed, as float32.
struct BlockResult {
  std::vector<float> out;    ///< [tq][B][H][d]
  std::vector<float> lse;    ///< [tq][B][H]
  std::string kernel;        ///< "tensor_core" or "simt"
};

/// Runs one block on device 0: uploads q and kv (rounded to the dtype), fills out and lse with NaN
/// first (so an element the kernel does not write cannot pass), launches, downloads. Throws
/// CudaError on a CUDA failure and Error on bad shapes.
[[nodiscard]] BlockResult run_block(const BlockProblem& problem, const std::vector<float>& q,
                                    const std::vector<float>& kv);

/// Runs the LSE merge kernel on device 0 over rows x B x H: (out, lse) <- merge((out, lse),
/// (partial_out, partial_lse)); arrays in the token-major layouts above. Returns the new (out, lse).
[[nodiscard]] std::pair<std::vector<float>, std::vector<float>> run_merge(
    std::int64_t rows, std::int64_t batch, std::int64_t heads, std::int64_t head_dim, ir::DType dtype,
    const std::vector<float>& out, const std::vector<float>& lse, const std::vector<float>& partial_out,
    const std::vector<float>& partial_lse);

/// Timing of the forward kernel on one block with random inputs, device 0.
struct KernelTiming {
  std::vector<double> seconds;  ///< one per timed iteration (CUDA events)
  std::string kernel;           ///< "tensor_core" or "simt"
  std::string device;           ///< GPU name and sm
};
/// Times `iterations` launches after `warmup` ones of a self-attention block of `tokens` rows
/// (positions 0..tokens-1, so causal is the diagonal block).
[[nodiscard]] KernelTiming time_block(std::int64_t tokens, std::int64_t batch, std::int64_t q_heads,
                                      std::int64_t kv_heads, std::int64_t head_dim, ir::DType dtype, bool causal,
                                      int warmup, int iterations, bool force_simt = false);

}  // namespace ringlab::runtime::cuda
