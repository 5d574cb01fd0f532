#pragma once
// Private: the CPU backend's float32 kernels. Buffers are spans of float32 elements in the IR's
// layouts (docs/ir.md): q/out [batch][tokens][q_heads][d], kv = K then V [batch][tokens][kv_heads][d],
// lse [batch][q_heads][tokens].
#include <span>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::runtime::cpu {

/// A buffer's description and its float32 storage.
struct View {
  const ir::Buffer* meta = nullptr;  ///< the IR's description (tokens, name)
  std::span<float> data;             ///< its elements
};

/// Attention of q rows against kv rows with the log-sum-exp; throws ValidationError on bad slices.
void attend(const ir::Schedule& s, const ir::Attend& op, View q, View kv, View out, View lse);
/// Log-sum-exp merge of (partial_out, partial_lse) into (out, lse).
void merge(const ir::Schedule& s, const ir::Merge& op, View out, View lse, View partial_out, View partial_lse);

}  // namespace ringlab::runtime::cpu
