#pragma once
// A GPU as the cost models see it: peak rates, memory, launch overhead and the parameters of the
// attention-kernel efficiency curve. Loaded from configs/devices/*.yaml (see docs/models.md).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/topology/cluster.hpp"

namespace ringlab {
class YamlNode;
}

namespace ringlab::models {

/// A saturating efficiency curve f(s) = max * s / (s + s_half): 0 at s = 0, max/2 at s = s_half,
/// tending to `max` for long blocks. `s` is an effective block length in tokens.
struct EfficiencyCurve {
  double max = 1.0;     ///< the limit for long blocks (a fraction, or a factor for partial/backward)
  double s_half = 0.0;  ///< block length (tokens) at which half of `max` is reached
  /// The curve at effective block length `s` (tokens, >= 0).
  [[nodiscard]] double at(double s) const noexcept { return s <= 0 ? 0.0 : max * s / (s + s_half); }
  friend bool operator==(const EfficiencyCurve&, const EfficiencyCurve&) = default;
};

/// The forward efficiency curve measured (or fitted) at one head dimension.
struct HeadDimCurve {
  std::int64_t head_dim = 0;  ///< d
  EfficiencyCurve forward;    ///< fraction of the dtype's peak reached by a full (unmasked) block
  friend bool operator==(const HeadDimCurve&, const HeadDimCurve&) = default;
};

/// Parameters of the parametric attention model (docs/models.md, "Compute").
struct AttentionParams {
  std::vector<HeadDimCurve> forward;  ///< sorted by head_dim, at least one
  EfficiencyCurve partial;            ///< extra factor for Mask::partial (causal-diagonal) blocks
  EfficiencyCurve backward;           ///< extra factor for AttendGrad (on top of forward/partial)
  /// The forward curve at head dim `d`: interpolated linearly in log2(d) between the listed head dims
  /// (both max and s_half), clamped to the nearest listed one outside their range.
  [[nodiscard]] EfficiencyCurve forward_at(std::int64_t d) const;
  friend bool operator==(const AttentionParams&, const AttentionParams&) = default;
};

/// One measured attention point: a kernel's achieved rate on a q_len x kv_len block.
struct AttentionPoint {
  ir::Pass pass = ir::Pass::forward;  ///< forward or backward (never both)
  ir::DType dtype = ir::DType::bf16;  ///< element type
  std::int64_t head_dim = 0;          ///< d
  bool causal = false;                ///< true: a causal-diagonal (Mask::partial) block
  std::int64_t q_len = 0;             ///< query rows of the block
  std::int64_t kv_len = 0;            ///< key/value rows of the block
  FlopRate rate{0};                   ///< achieved FLOP/s, FLOPs counted as in ir::attend_flops
  int line = 0;                       ///< line in the file it came from (0 if built in code)
  friend bool operator==(const AttentionPoint&, const AttentionPoint&) = default;
};

/// Measured attention rates, as `ringlab calibrate` writes them (docs/models.md, "Attention table").
/// Within one (pass, dtype, head_dim, causal) group the points must form a full grid over the
/// distinct q_len and kv_len values, so lookups interpolate bilinearly in (log q_len, log kv_len).
struct AttentionTable {
  std::string file;                    ///< the file it came from ("" if built in code)
  std::vector<AttentionPoint> points;  ///< every row
  /// The interpolated rate for a block, or nullopt when no group matches pass/dtype/head_dim/causal
  /// exactly. Outside the measured range of q_len or kv_len the nearest edge value is used.
  [[nodiscard]] std::optional<FlopRate> lookup(ir::Pass pass, ir::DType dtype, std::int64_t head_dim, bool causal,
                                               std::int64_t q_len, std::int64_t kv_len) const;
  /// Checks the grid property of every group; throws InputError naming the file, the row and the field.
  void validate() const;
  [[nodiscard]] bool empty() const noexcept { return points.empty(); }  ///< no rows at all
};

/// A GPU model (one configs/devices/*.yaml file).
struct DeviceSpec {
  std::string file;   ///< the file it came from ("" if built in code); errors about it name this file
  std::string name;   ///< human-readable name, e.g. "NVIDIA H100 SXM5 80GB"
  std::array<std::optional<FlopRate>, 3> peak{};  ///< dense peak per ir::DType (bf16, fp16, fp32); nullopt = unsupported
  int peak_line = 0;  ///< line of `peak_tflops` in `file` (for unsupported-dtype errors)
  Bandwidth hbm_bandwidth{0};  ///< datasheet memory bandwidth
  double hbm_efficiency = 1.0;  ///< fraction of hbm_bandwidth reached by streaming kernels (copy, merge)
  Bytes hbm_capacity{0};        ///< memory capacity
  std::int32_t sm_count = 0;    ///< streaming multiprocessors
  Time launch_overhead{0};      ///< added to every compute op that is not skipped
  double gemm_efficiency = 1.0;  ///< fraction of peak reached by large dense GEMMs
  AttentionParams attention;     ///< parametric attention efficiency
  AttentionTable attention_table;  ///< measured rates (may be empty); override `attention` where they match

  /// Whether the device has a peak rate for `t`.
  [[nodiscard]] bool supports(ir::DType t) const noexcept { return peak[static_cast<std::size_t>(t)].has_value(); }
  /// The dense peak rate for `t`; throws InputError naming `file` and `peak_tflops.<dtype>` if unsupported.
  [[nodiscard]] FlopRate peak_rate(ir::DType t) const;
  /// Throws InputError (naming `file`) unless the device supports `t`; `what` says who needs it.
  void require(ir::DType t, const std::string& what) const;
  /// HBM bandwidth reached by streaming kernels: hbm_bandwidth * hbm_efficiency.
  [[nodiscard]] Bandwidth streaming_bandwidth() const noexcept { return hbm_bandwidth * hbm_efficiency; }
};

/// Lower-case dtype name as in YAML files ("bf16", "fp16", "fp32").
[[nodiscard]] const char* dtype_name(ir::DType t) noexcept;

/// Loads and checks a device file; every error is an InputError naming the file, line and field.
[[nodiscard]] DeviceSpec load_device(const std::string& path);
/// Loads the device file a topology names (its `device:` key). A file that cannot be read is an
/// InputError at that key of the topology file; an error inside the device file names that file.
[[nodiscard]] DeviceSpec load_cluster_device(const topology::Cluster& cluster);
/// Loads a device profile (e.g. written by `ringlab calibrate`) that stands in for `expected_device`:
/// its name must equal that device's name or that name plus " (calibrated)" ("" skips the check);
/// otherwise an InputError names the profile file, the line of `name` and the field.
[[nodiscard]] DeviceSpec load_device_profile(const std::string& path, const std::string& expected_device = "");
/// Parses a device from YAML text (`label` is what errors call it) — for tests and embedded configs.
[[nodiscard]] DeviceSpec parse_device(const std::string& text, const std::string& label);

/// Reads an `attention_table:` list (rows as in docs/models.md) and validates it.
[[nodiscard]] AttentionTable read_attention_table(const YamlNode& list);
/// Loads a device-profile file (`device:`, optional `source:`, `attention_table:`), as written by
/// `ringlab calibrate`; `expected_device`, when not empty, must equal its `device:` value.
[[nodiscard]] AttentionTable load_attention_table(const std::string& path, const std::string& expected_device = "");

}  // namespace ringlab::models
