#pragma once
// The fitting half of `ringlab calibrate`: from the ops a backend timed (runtime/calibration.hpp, as
// trace::OpTimings), fit the models' parameters and write them as a device profile (the models'
// DeviceSpec schema, so models::load_device reads it) plus a companion topology whose links carry the
// measured transfer latency and bandwidth. See README ("Calibrate, simulate, run, compare").
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/trace/timing.hpp"

namespace ringlab::report {

/// A line y = intercept + slope * x fitted by (weighted) least squares.
struct LinearFit {
  double intercept = 0;   ///< y at x = 0
  double slope = 0;       ///< dy/dx
  std::size_t points = 0; ///< number of points fitted
  double max_rel_residual = 0;  ///< max |fit(x) - y| / |y| over the points (how well the line fits)
};

/// Least squares of y on x minimising sum w_i (y_i - a - b x_i)^2; `weights` empty means all 1.
/// Throws Error with fewer than two distinct x values, sizes that differ, or a weight <= 0.
[[nodiscard]] LinearFit fit_line(std::span<const double> x, std::span<const double> y,
                                 std::span<const double> weights = {});

/// What the profile is written for (what is timed is runtime::CalibrationGrid's).
struct ProfileOptions {
  std::vector<ir::DType> dtypes{ir::DType::fp32};       ///< dtypes the table rows are written for
  std::string device_name = "cpu-host (calibrated)";  ///< `name:` of the profile
};

/// The median time of one attention block shape.
struct AttendSample {
  std::int64_t head_dim = 0;  ///< d
  bool causal = false;        ///< true: a causal-diagonal (Mask::partial) block
  std::int64_t q_len = 0;     ///< query rows
  std::int64_t kv_len = 0;    ///< key/value rows
  Flops flops{0};             ///< ir::attend_flops of the block (one head)
  double seconds = 0;         ///< median duration
};

/// The median time of one streaming op (merge or copy) and the bytes the models charge it.
struct StreamSample {
  std::string kind;     ///< "merge" or "copy"
  Bytes model_bytes{0}; ///< models::merge_bytes, or 2 x the copy's bytes (read + write)
  double seconds = 0;   ///< median duration
};

/// The median time of one rendezvous transfer (from both sides posted to the data landed).
struct TransferSample {
  Bytes bytes{0};       ///< message size
  double seconds = 0;   ///< median duration
};

/// Raw medians plus the fitted parameters.
struct Calibration {
  std::string backend;        ///< backend name ("cpu")
  std::string machine;        ///< CPU model and thread count, as the profile's comments name it
  std::string date;           ///< UTC date of the run (YYYY-MM-DD)
  std::int32_t threads = 0;   ///< hardware threads (written as sm_count)
  Bytes host_memory{0};       ///< physical memory (written as hbm_capacity_gib)
  std::vector<ir::DType> dtypes;  ///< dtypes the table rows are written for
  int repetitions = 0;        ///< timed runs per shape
  std::string device_name;    ///< `name:` of the profile

  std::vector<AttendSample> attends;      ///< every block shape measured
  std::vector<StreamSample> streams;      ///< every merge/copy size measured
  std::vector<TransferSample> transfers;  ///< every message size measured

  LinearFit stream_fit;    ///< seconds = launch + model_bytes / bandwidth over the merges (all streams if < 2 merge sizes)
  LinearFit transfer_fit;  ///< seconds = latency + bytes / bandwidth (relative least squares)
  Time launch_overhead{0};       ///< stream_fit's intercept, clamped to >= 0
  Bandwidth stream_bandwidth{0}; ///< 1 / stream_fit's slope (merge, copy: hbm_bandwidth, efficiency 1)
  Time transfer_latency{0};      ///< transfer_fit's intercept, clamped to >= 0
  Bandwidth transfer_bandwidth{0};  ///< 1 / transfer_fit's slope
  FlopRate peak{0};              ///< highest attention rate: max over head dims of the curve's limit and the best block
  std::vector<models::HeadDimCurve> forward;  ///< fitted forward curves (square full blocks), per head dim
  models::EfficiencyCurve partial;            ///< fitted causal-diagonal factor (square blocks)
};

/// The samples of `timings` (each op's figures as the models count them) and their fit (see fit).
/// Throws Error for an op calibration does not time, or a fit that fails.
[[nodiscard]] Calibration calibration_of(const trace::OpTimings& timings, const ProfileOptions& options);

/// Fills the fitted fields of `c` from its samples (calibration_of calls it; tests feed synthetic samples).
/// Throws Error when a fit has too few points (fewer than two sizes of streams or transfers).
void fit(Calibration& c);

/// Achieved rate of an attention sample as the table model needs it: the models add the launch
/// overhead to every op, so it is taken out: flops / max(seconds - launch, seconds / 2).
[[nodiscard]] FlopRate sample_rate(const AttendSample& s, Time launch_overhead) noexcept;

/// The device profile as YAML in the models' DeviceSpec schema (docs/models.md), with comments naming
/// the machine, the date and the transfer figures; `topology_file` (may be empty) is named in them.
[[nodiscard]] std::string profile_yaml(const Calibration& c, const std::string& topology_file = "");

/// How a measured transfer maps onto the simulator's NCCL-like comm model (docs/models.md): one direct
/// NVLink-kind link per pair, so a >16 KiB message costs base_latency[simple] + hop_latency[nvlink][simple]
/// + link latency + bytes / (bandwidth x nvlink efficiency).
struct LinkFigures {
  double bandwidth_gbps = 0;  ///< link bandwidth_gbps = measured bandwidth / nvlink efficiency
  double latency_us = 0;      ///< link latency_us = measured latency - the model's fixed part (>= 0.001)
  double floor_us = 0;        ///< the model's fixed part (software + per-hop latency) a link cannot remove
};
/// The link figures that reproduce `latency` and `bandwidth` as closely as the comm model allows.
[[nodiscard]] LinkFigures link_figures(Time latency, Bandwidth bandwidth);

/// A cpu-host topology: `gpus` virtual devices (one per rank thread) joined pairwise by direct
/// NVLink-kind links of `link`'s figures, `device:` = `device_file` (relative to the topology file).
[[nodiscard]] std::string cpu_host_topology_yaml(const std::string& name, const std::string& device_file,
                                                 std::int32_t gpus, const LinkFigures& link,
                                                 const std::string& header_comment);


}  // namespace ringlab::report
