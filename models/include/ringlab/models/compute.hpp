#pragma once
// Compute cost models: the time of an attention block, a merge, a GEMM, a copy or a reduce on one
// GPU, alone (interference with transfers is applied by the simulator, see interference.hpp).
// Formulas and their sources: docs/models.md, "Compute".
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/models/device.hpp"

namespace ringlab::models {

/// One attention block as the compute models see it.
struct AttendShape {
  std::int64_t q_rows = 0;      ///< query rows of the block (per sequence)
  std::int64_t kv_rows = 0;     ///< key/value rows of the block (per sequence)
  std::int64_t heads = 0;       ///< query heads computed
  std::int64_t head_dim = 0;    ///< d
  ir::DType dtype = ir::DType::bf16;  ///< element type of Q, K, V
  ir::Mask mask = ir::Mask::full;     ///< full, partial (causal diagonal) or skip
  ir::Pass pass = ir::Pass::forward;  ///< forward (Attend) or backward (AttendGrad)
  Flops flops{0};               ///< the op's FLOPs (ir::attend_flops convention; backward 2.5x)
};

/// Effective block length for the efficiency curve: the harmonic mean 2*q*k/(q+k) of the query and
/// key rows (equals s for a square s x s block; dominated by the shorter side, which limits both the
/// number of tiles and the length of each tile's inner loop).
[[nodiscard]] double effective_block_length(std::int64_t q_rows, std::int64_t kv_rows) noexcept;

/// Base of the compute models: everything but the attention rate is shared.
class ComputeModel {
 public:
  /// A model of `device`.
  explicit ComputeModel(DeviceSpec device);
  virtual ~ComputeModel();
  ComputeModel(const ComputeModel&) = delete;
  ComputeModel& operator=(const ComputeModel&) = delete;

  /// Registry name of the model ("parametric", "table").
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  /// Achieved FLOP/s of an attention block's kernel (no launch overhead). Throws InputError naming the
  /// device file when the device lacks `s.dtype`.
  [[nodiscard]] virtual FlopRate attention_rate(const AttendShape& s) const = 0;

  /// Attend/AttendGrad time: 0 for Mask::skip (or no FLOPs); else launch + flops / attention_rate.
  [[nodiscard]] Time attend_time(const AttendShape& s) const;
  /// Merge time: launch + bytes / streaming bandwidth, bytes = merge_bytes(...).
  [[nodiscard]] Time merge_time(Bytes bytes) const;
  /// Dense GEMM time: launch + flops / (peak(dtype) * gemm_efficiency).
  [[nodiscard]] Time gemm_time(Flops flops, ir::DType dtype) const;
  /// Local copy time: launch + 2 * bytes / streaming bandwidth (every byte read once and written once).
  [[nodiscard]] Time copy_time(Bytes bytes) const;
  /// Reduce (dst += src) time: launch + 3 * bytes / streaming bandwidth (read src, read dst, write dst).
  [[nodiscard]] Time reduce_time(Bytes bytes) const;

  /// Time of any compute op of `rank` in a schedule of `w` (Send and Recv cost 0 here: the
  /// communication model prices them). Buffer dtypes come from `rank.buffers`.
  [[nodiscard]] Time op_time(const ir::Op& op, const ir::Workload& w, const ir::RankProgram& rank) const;

  /// The device modelled.
  [[nodiscard]] const DeviceSpec& device() const noexcept { return device_; }

 protected:
  /// The parametric rate (shared by both models: the table model falls back to it).
  [[nodiscard]] FlopRate parametric_rate(const AttendShape& s) const;

 private:
  DeviceSpec device_;
};

/// The efficiency-curve model: rate = peak(dtype) * fwd_d(s) [* partial(s)] [* backward(s)], each a
/// saturating curve max * s / (s + s_half) of the effective block length s (docs/models.md).
class ParametricComputeModel final : public ComputeModel {
 public:
  /// A parametric model of `device` (uses device.attention; ignores device.attention_table).
  explicit ParametricComputeModel(DeviceSpec device) : ComputeModel(std::move(device)) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "parametric"; }  ///< "parametric"
  /// peak * efficiency from the curves.
  [[nodiscard]] FlopRate attention_rate(const AttendShape& s) const override { return parametric_rate(s); }
};

/// Measured rates from device.attention_table where a group matches (pass, dtype, head_dim, causal =
/// mask is partial) exactly, interpolated in log space over q_rows and kv_rows; the parametric rate
/// elsewhere.
class TableComputeModel final : public ComputeModel {
 public:
  /// A table model of `device` (an empty table makes it identical to the parametric model).
  explicit TableComputeModel(DeviceSpec device) : ComputeModel(std::move(device)) {}
  [[nodiscard]] std::string_view name() const noexcept override { return "table"; }  ///< "table"
  /// The table's rate where it has the group, else the parametric rate.
  [[nodiscard]] FlopRate attention_rate(const AttendShape& s) const override;
  /// Whether the table (not the fallback) prices a block of this shape.
  [[nodiscard]] bool covers(const AttendShape& s) const;
};

/// The shape of an Attend op of a schedule of `w`.
[[nodiscard]] AttendShape attend_shape(const ir::Attend& a, const ir::Workload& w) noexcept;
/// The shape of an AttendGrad op of a schedule of `w`.
[[nodiscard]] AttendShape attend_shape(const ir::AttendGrad& a, const ir::Workload& w) noexcept;
/// HBM bytes a Merge moves: B * rows * heads * (d * (2*e_out + e_partial_out) + 2*e_lse + e_partial_lse)
/// (read out and partial_out, write out; read lse and partial_lse, write lse), element sizes from the
/// buffers' dtypes.
[[nodiscard]] Bytes merge_bytes(const ir::Merge& m, const ir::Workload& w, const ir::RankProgram& rank);

}  // namespace ringlab::models
