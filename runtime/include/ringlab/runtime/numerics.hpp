#pragma once
// Seeded inputs, a float64 reference attention of the whole sequence, and verification of what a
// backend computed against it.
#include <cstdint>
#include <string>
#include <vector>

#include "ringlab/ir/schedule.hpp"
#include "ringlab/runtime/executor.hpp"

namespace ringlab::runtime {

/// Q, K, V of the whole sequence: q [batch][seq][q_heads][head_dim], k and v
/// [batch][seq][kv_heads][head_dim], uniform in [-1, 1), a pure function of (seed, tensor, index).
struct HostInputs {
  ir::Workload workload;   ///< the shapes
  std::vector<float> q;    ///< queries
  std::vector<float> k;    ///< keys
  std::vector<float> v;    ///< values
};

/// The float64 reference: out [batch][seq][q_heads][head_dim], lse [batch][q_heads][seq].
struct ReferenceOutput {
  std::vector<double> out;  ///< softmax(Q K^T / sqrt(d), masked) V
  std::vector<double> lse;  ///< log-sum-exp of each row's scaled scores (-inf for an empty row)
};

/// How a backend's output compares with the reference.
struct VerifyReport {
  bool passed = false;          ///< max_rel_error < tolerance and every token checked exactly once
  double max_rel_error = 0;     ///< max |out - ref| / max |ref| over all ranks, tokens, heads
  double max_abs_error = 0;     ///< max |out - ref|
  double max_abs_ref = 0;       ///< max |ref|
  double max_lse_abs_error = 0; ///< max |lse - ref lse| over finite reference values (reported only)
  std::int32_t worst_rank = -1;       ///< rank of the largest error
  std::int64_t worst_position = -1;   ///< global token position of the largest error
  std::string message;          ///< one line a person reads ("ok: ..." or why it failed)
};

/// Whether query position `q` attends key position `k` under the workload's mask: causal means
/// k <= q; a window w > 0 means q - w < k (with causal) or |q - k| < w (without), as the generators
/// count FLOPs.
[[nodiscard]] bool attended(const ir::Workload& w, std::int64_t q, std::int64_t k) noexcept;
/// The global positions of a token set, in buffer order.
[[nodiscard]] std::vector<std::int64_t> positions(const ir::TokenSet& set);

/// Seeded inputs for the workload (same seed, same values, on every platform).
[[nodiscard]] HostInputs make_inputs(const ir::Workload& w, std::uint64_t seed);
/// Writes each rank's owned rows (Schedule::partition.owned) into its buffers with role q and into
/// the first rows of its first buffer with role kv.
void load_inputs(const ir::Schedule& schedule, const HostInputs& inputs, Backend& backend);
/// Exact attention of the whole sequence in float64 (masks, GQA), O(batch * heads * seq^2 * d).
[[nodiscard]] ReferenceOutput reference_attention(const HostInputs& inputs);
/// Compares each rank's first `out` buffer (row i = i-th owned position) with the reference.
[[nodiscard]] VerifyReport verify(const ir::Schedule& schedule, const Backend& backend,
                                  const ReferenceOutput& reference, double tolerance = 1e-5);

}  // namespace ringlab::runtime
