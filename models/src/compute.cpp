#include "ringlab/models/compute.hpp"

#include <algorithm>
#include <type_traits>
#include <variant>

namespace ringlab::models {

namespace {
std::int64_t elem(const ir::RankProgram& rank, ir::BufferId b, ir::DType fallback) {
  return ir::element_bytes(b < rank.buffers.size() ? rank.buffers[b].dtype : fallback);
}
// An efficiency below this is a modelling accident (an empty block): never divide by ~0.
constexpr double kMinEfficiency = 1e-6;
}  // namespace

double effective_block_length(std::int64_t q_rows, std::int64_t kv_rows) noexcept {
  if (q_rows <= 0 || kv_rows <= 0) return 0.0;
  const auto q = static_cast<double>(q_rows);
  const auto k = static_cast<double>(kv_rows);
  return 2.0 * q * k / (q + k);
}

ComputeModel::ComputeModel(DeviceSpec device) : device_(std::move(device)) {}
ComputeModel::~ComputeModel() = default;

FlopRate ComputeModel::parametric_rate(const AttendShape& s) const {
  const FlopRate peak = device_.peak_rate(s.dtype);
  const double len = effective_block_length(s.q_rows, s.kv_rows);
  double eff = device_.attention.forward_at(s.head_dim).at(len);
  if (s.mask == ir::Mask::partial) eff *= device_.attention.partial.at(len);
  if (s.pass != ir::Pass::forward) eff *= device_.attention.backward.at(len);
  return peak * std::max(eff, kMinEfficiency);
}

Time ComputeModel::attend_time(const AttendShape& s) const {
  if (s.mask == ir::Mask::skip || s.flops.value <= 0) return Time{0};
  return device_.launch_overhead + compute_time(s.flops, attention_rate(s));
}

Time ComputeModel::merge_time(Bytes bytes) const {
  return device_.launch_overhead + transfer_time(bytes, device_.streaming_bandwidth());
}

Time ComputeModel::gemm_time(Flops flops, ir::DType dtype) const {
  if (flops.value <= 0) return device_.launch_overhead;
  return device_.launch_overhead + compute_time(flops, device_.peak_rate(dtype) * device_.gemm_efficiency);
}

Time ComputeModel::copy_time(Bytes bytes) const {
  return device_.launch_overhead + transfer_time(bytes * 2, device_.streaming_bandwidth());
}

Time ComputeModel::reduce_time(Bytes bytes) const {
  return device_.launch_overhead + transfer_time(bytes * 3, device_.streaming_bandwidth());
}

Time ComputeModel::op_time(const ir::Op& op, const ir::Workload& w, const ir::RankProgram& rank) const {
  return std::visit(
      [&](const auto& k) -> Time {
        using K = std::decay_t<decltype(k)>;
        if constexpr (std::is_same_v<K, ir::Attend> || std::is_same_v<K, ir::AttendGrad>) {
          return attend_time(attend_shape(k, w));
        } else if constexpr (std::is_same_v<K, ir::Merge>) {
          return merge_time(merge_bytes(k, w, rank));
        } else if constexpr (std::is_same_v<K, ir::Gemm>) {
          return gemm_time(k.flops, k.a < rank.buffers.size() ? rank.buffers[k.a].dtype : w.dtype);
        } else if constexpr (std::is_same_v<K, ir::Copy>) {
          return copy_time(k.src.bytes);
        } else if constexpr (std::is_same_v<K, ir::Reduce>) {
          return reduce_time(k.src.bytes);
        } else {
          return Time{0};  // Send / Recv: priced by the communication model
        }
      },
      op.kind);
}

FlopRate TableComputeModel::attention_rate(const AttendShape& s) const {
  device().require(s.dtype, "this attention");
  if (auto r = device().attention_table.lookup(s.pass == ir::Pass::forward ? ir::Pass::forward : ir::Pass::backward,
                                               s.dtype, s.head_dim, s.mask == ir::Mask::partial, s.q_rows,
                                               s.kv_rows)) {
    return *r;
  }
  return parametric_rate(s);
}

bool TableComputeModel::covers(const AttendShape& s) const {
  return device()
      .attention_table
      .lookup(s.pass == ir::Pass::forward ? ir::Pass::forward : ir::Pass::backward, s.dtype, s.head_dim,
              s.mask == ir::Mask::partial, s.q_rows, s.kv_rows)
      .has_value();
}

AttendShape attend_shape(const ir::Attend& a, const ir::Workload& w) noexcept {
  return {a.q.tokens, a.kv.tokens, a.heads, w.head_dim, w.dtype, a.mask, ir::Pass::forward, a.flops};
}

AttendShape attend_shape(const ir::AttendGrad& a, const ir::Workload& w) noexcept {
  return {a.q.tokens, a.kv.tokens, a.heads, w.head_dim, w.dtype, a.mask, ir::Pass::backward, a.flops};
}

Bytes merge_bytes(const ir::Merge& m, const ir::Workload& w, const ir::RankProgram& rank) {
  const std::int64_t e_out = elem(rank, m.out, w.dtype);
  const std::int64_t e_part = elem(rank, m.partial_out, w.dtype);
  const std::int64_t e_lse = elem(rank, m.lse, ir::DType::fp32);
  const std::int64_t e_plse = elem(rank, m.partial_lse, ir::DType::fp32);
  const std::int64_t per_row_head = w.head_dim * (2 * e_out + e_part) + 2 * e_lse + e_plse;
  return Bytes(w.batch * m.rows * m.heads * per_row_head);
}

}  // namespace ringlab::models
