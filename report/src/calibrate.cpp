#include "ringlab/report/calibrate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/models/comm.hpp"
#include "ringlab/models/compute.hpp"

namespace ringlab::report {

namespace {

constexpr std::int64_t kKiB = 1024;

/// Fits 1/y = a + b/x (the saturating curve y = Y * x / (x + h) with Y = 1/a, h = b/a) by relative
/// least squares; nullopt with fewer than two distinct x or a non-positive limit.
std::optional<std::pair<double, double>> fit_saturating(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> ix, iy, w;
  for (std::size_t i = 0; i < x.size(); ++i) {
    ix.push_back(1.0 / x[i]);
    iy.push_back(1.0 / y[i]);
    w.push_back(y[i] * y[i]);  // weights 1/(1/y)^2: relative residuals
  }
  std::vector<double> distinct = ix;
  std::sort(distinct.begin(), distinct.end());
  if (std::unique(distinct.begin(), distinct.end()) - distinct.begin() < 2) return std::nullopt;
  const auto f = fit_line(ix, iy, w);
  if (f.intercept <= 0) return std::nullopt;
  return std::pair{1.0 / f.intercept, std::max(0.0, f.slope / f.intercept)};
}

std::string num(double v) { return fmt::format("{:.6g}", v); }

}  // namespace

LinearFit fit_line(std::span<const double> x, std::span<const double> y, std::span<const double> weights) {
  if (x.size() != y.size() || (!weights.empty() && weights.size() != x.size())) {
    throw Error(fmt::format("fit_line: {} x values, {} y values and {} weights", x.size(), y.size(), weights.size()));
  }
  const auto wt = [&](std::size_t i) { return weights.empty() ? 1.0 : weights[i]; };
  double W = 0, sx = 0, sy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(wt(i) > 0) || !std::isfinite(wt(i))) throw Error(fmt::format("fit_line: weight {} is not positive", wt(i)));
    W += wt(i);
    sx += wt(i) * x[i];
    sy += wt(i) * y[i];
  }
  if (x.size() < 2) throw Error(fmt::format("fit_line: {} point(s), a line needs two distinct x values", x.size()));
  const double xm = sx / W, ym = sy / W;
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += wt(i) * (x[i] - xm) * (x[i] - xm);
    sxy += wt(i) * (x[i] - xm) * (y[i] - ym);
  }
  if (!(sxx > 0)) throw Error("fit_line: every x value is the same, a line needs two distinct x values");
  LinearFit f;
  f.slope = sxy / sxx;
  f.intercept = ym - f.slope * xm;
  f.points = x.size();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = std::abs(f.intercept + f.slope * x[i] - y[i]);
    f.max_rel_residual = std::max(f.max_rel_residual, y[i] != 0 ? r / std::abs(y[i]) : r);
  }
  return f;
}

FlopRate sample_rate(const AttendSample& s, Time launch_overhead) noexcept {
  const double t = std::max(s.seconds - to_seconds(launch_overhead), s.seconds / 2);
  return FlopRate(t > 0 ? static_cast<double>(s.flops.value) / t : 0.0);
}

namespace {
// time = intercept + bytes / bandwidth, each point weighted by 1/seconds^2 (relative error); `what`'s
// times must grow with their bytes.
LinearFit fit_bytes_seconds(const char* what, const std::vector<double>& bytes, const std::vector<double>& secs) {
  if (bytes.empty()) throw Error(fmt::format("calibrate: no {} timings to fit", what));
  std::vector<double> w;
  for (const double t : secs) w.push_back(1.0 / (t * t));
  LinearFit f = fit_line(bytes, secs, w);
  if (!(f.slope > 0)) {
    throw Error(fmt::format("calibrate: {} times do not grow with their bytes (slope {}): the timings are too noisy, "
                            "use more --repetitions",
                            what, f.slope));
  }
  return f;
}
}  // namespace

void fit(Calibration& c) {
  {
    // The models have one streaming rate for merge, copy and reduce. The ring variants issue merges
    // (copies only appear in allgather's one local copy), and on a CPU the merge (an exp and a log per
    // row) is several times slower per byte than a memcpy, so the rate is fitted to the merges when
    // there are at least two merge sizes; the copies' own rate is reported in the profile's comments.
    std::set<std::int64_t> merge_sizes;
    for (const auto& s : c.streams)
      if (s.kind == "merge") merge_sizes.insert(s.model_bytes.value);
    const bool merges_only = merge_sizes.size() >= 2;
    std::vector<double> x, y;
    for (const auto& s : c.streams) {
      if (merges_only && s.kind != "merge") continue;
      x.push_back(static_cast<double>(s.model_bytes.value));
      y.push_back(s.seconds);
    }
    c.stream_fit = fit_bytes_seconds("merge/copy", x, y);
    c.launch_overhead = seconds(std::max(0.0, c.stream_fit.intercept));
    c.stream_bandwidth = Bandwidth(1.0 / c.stream_fit.slope);
  }
  {
    std::vector<double> x, y;
    for (const auto& s : c.transfers) {
      x.push_back(static_cast<double>(s.bytes.value));
      y.push_back(s.seconds);
    }
    c.transfer_fit = fit_bytes_seconds("transfer", x, y);
    c.transfer_latency = seconds(std::max(0.0, c.transfer_fit.intercept));
    c.transfer_bandwidth = Bandwidth(1.0 / c.transfer_fit.slope);
  }
  if (c.attends.empty()) throw Error("calibrate: no attention timings to fit");
  // Forward curves per head dim from the square full blocks; the peak is the highest limit or rate.
  std::map<std::int64_t, std::vector<std::pair<double, double>>> full, causal;  // d -> (s, rate)
  double best = 0;
  for (const auto& s : c.attends) {
    const double r = sample_rate(s, c.launch_overhead).value;
    best = std::max(best, r);
    if (s.q_len != s.kv_len) continue;
    (s.causal ? causal : full)[s.head_dim].emplace_back(static_cast<double>(s.q_len), r);
  }
  std::map<std::int64_t, std::pair<double, double>> limits;  // d -> (limit rate, s_half)
  double peak = best;
  for (const auto& [d, pts] : full) {
    std::vector<double> x, y;
    double top = 0;
    for (const auto& [len, r] : pts) {
      x.push_back(len);
      y.push_back(r);
      top = std::max(top, r);
    }
    const auto f = fit_saturating(x, y);
    limits[d] = f ? *f : std::pair{top, 0.0};
    peak = std::max(peak, limits[d].first);
  }
  c.peak = FlopRate(peak);
  c.forward.clear();
  for (const auto& [d, l] : limits) {
    c.forward.push_back(models::HeadDimCurve{d, models::EfficiencyCurve{std::clamp(l.first / peak, 1e-6, 1.0), l.second}});
  }
  if (c.forward.empty()) {  // no square full block: a flat curve at the best rate
    c.forward.push_back(models::HeadDimCurve{c.attends.front().head_dim, models::EfficiencyCurve{1.0, 0.0}});
  }
  // Causal-diagonal factor: rate(causal s x s) / rate(full s x s), averaged over head dims.
  std::map<double, std::vector<double>> factors;
  for (const auto& [d, pts] : causal) {
    for (const auto& [len, r] : pts) {
      for (const auto& [flen, fr] : full[d])
        if (flen == len && fr > 0) factors[len].push_back(r / fr);
    }
  }
  std::vector<double> fx, fy;
  double ftop = 0;
  for (const auto& [len, v] : factors) {
    double sum = 0;
    for (double f : v) sum += f;
    fx.push_back(len);
    fy.push_back(sum / static_cast<double>(v.size()));
    ftop = std::max(ftop, fy.back());
  }
  c.partial = models::EfficiencyCurve{1.0, 0.0};
  if (!fy.empty()) {
    const auto f = fit_saturating(fx, fy);
    c.partial = f ? models::EfficiencyCurve{std::clamp(f->first, 1e-6, 1.0), f->second}
                  : models::EfficiencyCurve{std::clamp(ftop, 1e-6, 1.0), 0.0};
  }
}

Calibration calibration_of(const trace::OpTimings& timings, const ProfileOptions& options) {
  if (options.dtypes.empty()) throw Error("calibrate: no dtypes to write the profile's table rows for");
  Calibration c;
  c.backend = timings.backend;
  c.machine = timings.machine;
  c.date = timings.date;
  c.threads = timings.threads;
  c.host_memory = timings.host_memory;
  c.repetitions = timings.repetitions;
  c.dtypes = options.dtypes;
  c.device_name = options.device_name;
  for (const auto& t : timings.ops) {
    const ir::Workload& w = t.workload;
    if (const auto* a = std::get_if<ir::Attend>(&t.op.kind)) {
      c.attends.push_back(AttendSample{w.head_dim, w.causal, a->q.tokens, a->kv.tokens, a->flops, t.seconds});
    } else if (const auto* m = std::get_if<ir::Merge>(&t.op.kind)) {
      ir::RankProgram rank;
      rank.buffers = t.buffers;
      c.streams.push_back(StreamSample{"merge", models::merge_bytes(*m, w, rank), t.seconds});
    } else if (const auto* cp = std::get_if<ir::Copy>(&t.op.kind)) {
      c.streams.push_back(StreamSample{"copy", cp->src.bytes * 2, t.seconds});  // read + write
    } else if (const auto* snd = std::get_if<ir::Send>(&t.op.kind)) {
      c.transfers.push_back(TransferSample{snd->data.bytes, t.seconds});
    } else {
      throw Error(fmt::format("calibrate: a timed {} op: calibration fits attend, merge, copy and send timings only",
                              ir::kind_name(t.op.kind)));
    }
  }
  fit(c);
  return c;
}

LinkFigures link_figures(Time latency, Bandwidth bandwidth) {
  const auto p = models::default_comm_params();
  const auto nv = static_cast<std::size_t>(topology::LinkKind::NVLink);
  const auto simple = static_cast<std::size_t>(models::Protocol::simple);
  LinkFigures f;
  f.floor_us = to_seconds(p.base_latency[simple] + p.links[nv].latency[simple]) * 1e6;
  f.bandwidth_gbps = bandwidth.value / 1e9 / p.links[nv].efficiency;
  f.latency_us = std::max(0.001, to_seconds(latency) * 1e6 - f.floor_us);
  return f;
}

std::string cpu_host_topology_yaml(const std::string& name, const std::string& device_file, std::int32_t gpus,
                                   const LinkFigures& link, const std::string& header_comment) {
  if (gpus < 2) throw Error(fmt::format("a cpu-host topology needs at least 2 devices, got {}", gpus));
  std::string out = header_comment;
  out += fmt::format("name: {}\n", yaml_quoted(name));
  out += fmt::format("description: \"{} rank threads of one host as virtual devices, joined pairwise\"\n", gpus);
  out += fmt::format("device: {}\n", yaml_quoted(device_file));
  out += "vertices:\n";
  for (std::int32_t i = 0; i < gpus; ++i) out += fmt::format("  - {{name: rank{}, kind: gpu}}\n", i);
  out += "links:  # one direct link per pair: a transfer is one copy between two threads, never routed further\n";
  for (std::int32_t i = 0; i < gpus; ++i) {
    for (std::int32_t j = i + 1; j < gpus; ++j) {
      out += fmt::format("  - {{from: rank{}, to: rank{}, kind: nvlink, bandwidth_gbps: {}, latency_us: {}}}\n", i, j,
                         num(link.bandwidth_gbps), num(link.latency_us));
    }
  }
  return out;
}

std::string profile_yaml(const Calibration& c, const std::string& topology_file) {
  const auto link = link_figures(c.transfer_latency, c.transfer_bandwidth);
  std::string o;
  o += fmt::format("# Device profile written by `ringlab calibrate --backend {}`: the models' device schema\n", c.backend);
  o += "# (docs/models.md), read by models::load_device. Every figure was measured on\n";
  o += fmt::format("#   {}, {} (UTC), median of {} repetitions per point,\n", c.machine, c.date, c.repetitions);
  o += "# through the backend's own kernels and transfers (runtime::Backend, as `ringlab run` records them).\n";
  o += fmt::format("# Transfers (rendezvous copy between two rank threads), {} sizes {} .. {}, least squares on\n",
                   c.transfers.size(), c.transfers.empty() ? "" : exact_size(c.transfers.front().bytes),
                   c.transfers.empty() ? "" : exact_size(c.transfers.back().bytes));
  o += fmt::format("# relative residuals (max {:.1f}%): latency {} us, bandwidth {} GB/s.\n",
                   c.transfer_fit.max_rel_residual * 100, num(to_seconds(c.transfer_latency) * 1e6),
                   num(c.transfer_bandwidth.value / 1e9));
  o += fmt::format("# The comm model charges a link {} / {} GB/s (its nvlink efficiency) and {} us of NCCL software +\n",
                   num(c.transfer_bandwidth.value / 1e9), num(link.bandwidth_gbps), num(link.floor_us));
  o += "# per-hop latency that no link can remove, so the links get latency_us = max(0.001, measured - that).\n";
  if (!topology_file.empty()) {
    o += fmt::format("# Companion topology with those links: {}\n", topology_file);
    o += "#   ringlab simulate EXPERIMENT --set topology=<that file>\n";
  }
  o += fmt::format("name: {}\n", yaml_quoted(c.device_name));
  o += fmt::format("sm_count: {}                  # hardware threads of the host (the cpu backend runs one thread per rank)\n",
                   c.threads);
  o += "peak_tflops:                 # measured: the highest attention rate (curve limit or best block); the cpu\n";
  o += "                             # backend computes in float32 whatever the dtype, so every dtype gets it\n";
  for (const char* dt : {"bf16", "fp16", "fp32"}) o += fmt::format("  {}: {}\n", dt, num(c.peak.value / 1e12));
  o += fmt::format("hbm_bandwidth_gbps: {}  # measured: merge bytes (as the models count them) / time, least squares, {} "
                   "points, max residual {:.1f}%\n",
                   num(c.stream_bandwidth.value / 1e9), c.stream_fit.points, c.stream_fit.max_rel_residual * 100);
  {
    double copy_bytes = 0, copy_s = 0;
    for (const auto& s : c.streams) {
      if (s.kind != "copy") continue;
      copy_bytes += static_cast<double>(s.model_bytes.value);
      copy_s += s.seconds;
    }
    if (copy_s > 0) {
      o += fmt::format("                             # (fitted to merges; copies alone moved {} GB/s: allgather's\n"
                       "                             # copy is overpredicted by that ratio)\n",
                       num(copy_bytes / copy_s / 1e9));
    }
  }
  o += "hbm_efficiency: 1.0          # the measured rate is already what the streaming kernels reach\n";
  o += fmt::format("hbm_capacity_gib: {}  # physical memory of the host\n",
                   num(std::max(1e-3, static_cast<double>(c.host_memory.value) / static_cast<double>(kKiB * kKiB * kKiB))));
  o += fmt::format("launch_overhead_us: {}  # measured: intercept of the merge fit, clamped to >= 0 (per-op fixed cost)\n",
                   num(to_seconds(c.launch_overhead) * 1e6));
  o += "gemm_efficiency: 1.0         # not measured: the cpu backend has no gemm kernel\n";
  o += "attention:                   # fitted fallback for shapes outside the table: rate = peak * eff_max * s / (s + s_half)\n";
  o += "  forward:                   # square full blocks, per head dim\n";
  for (const auto& f : c.forward) {
    o += fmt::format("    - {{head_dim: {}, eff_max: {}, s_half: {}}}\n", f.head_dim, num(f.forward.max),
                     num(f.forward.s_half));
  }
  o += fmt::format("  partial: {{eff_max: {}, s_half: {}}}   # causal-diagonal / full rate of square blocks\n",
                   num(c.partial.max), num(c.partial.s_half));
  o += "  backward: {eff_max: 1.0, s_half: 0}   # not measured: the cpu backend has no attend_grad kernel\n";
  o += "attention_table:              # measured: tflops = ir::attend_flops / (median - launch_overhead); the\n";
  o += "                              # kernel is the same float32 loop for every dtype listed\n";
  for (const auto dt : c.dtypes) {
    for (const auto& s : c.attends) {
      o += fmt::format(
          "  - {{pass: forward, dtype: {}, head_dim: {}, causal: {}, q_len: {}, kv_len: {}, tflops: {}}}  # {} us\n",
          models::dtype_name(dt), s.head_dim, s.causal ? "true" : "false", s.q_len, s.kv_len,
          num(sample_rate(s, c.launch_overhead).value / 1e12), num(s.seconds * 1e6));
    }
  }
  return o;
}

}  // namespace ringlab::report
