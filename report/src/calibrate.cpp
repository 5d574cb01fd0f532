#include "ringlab/report/calibrate.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/models/comm.hpp"
#include "ringlab/models/compute.hpp"
#include "ringlab/runtime/numerics.hpp"

namespace ringlab::report {

namespace {

std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

constexpr std::int64_t kKiB = 1024;

void say(const CalibrationOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

/// The CPU model from /proc/cpuinfo ("unknown CPU" elsewhere).
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown CPU";
}

Bytes physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return Bytes{0};
  return Bytes(static_cast<std::int64_t>(pages) * static_cast<std::int64_t>(page));
}

std::string utc_date() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm) == 0) return "unknown date";
  return buf;
}

/// One op to launch and wait for: (rank, op id).
using Launch = std::pair<std::int32_t, ir::OpId>;

/// Runs `launch(rank)` on every rank named in `ops` (the others do nothing), waits until each of those
/// ops is done, and returns their durations in the order of `ops`. The backend's schedule must be allocated.
std::vector<double> run_once(runtime::Backend& backend, const std::vector<Launch>& ops,
                             const std::function<void(std::int32_t)>& launch) {
  backend.run_ranks([&](std::int32_t r) {
    const auto it = std::find_if(ops.begin(), ops.end(), [r](const Launch& l) { return l.first == r; });
    if (it == ops.end()) return;
    launch(r);
    const std::array<ir::OpId, 1> wait{it->second};
    while (!backend.is_done(r, it->second)) {
      if (!backend.wait_any(r, wait, seconds(60))) {
        throw Error(fmt::format("calibrate: rank {} op {} did not finish within 60 s", r, it->second));
      }
    }
  });
  std::vector<double> out;
  for (const auto& [r, id] : ops) {
    const auto t = backend.timing(r, id);
    out.push_back(to_seconds(t.end - t.start));
  }
  return out;
}

/// Warm-up runs, then `repetitions` timed ones; `prepare` re-allocates and fills the buffers before
/// each run (so every run starts from the same state and the backend's completion flags are fresh),
/// `duration` picks the figure of one run. Returns the median.
double time_op(runtime::Backend& backend, const CalibrationOptions& o, const std::function<void()>& prepare,
               const std::vector<Launch>& ops, const std::function<void(std::int32_t)>& launch,
               const std::function<double(const std::vector<double>&)>& duration) {
  std::vector<double> samples;
  for (int i = 0; i < o.warmup + o.repetitions; ++i) {
    prepare();
    const auto d = duration(run_once(backend, ops, launch));
    if (i >= o.warmup) samples.push_back(d);
  }
  return median(std::move(samples));
}

ir::Workload workload(std::int64_t seq, std::int64_t heads, std::int64_t kv_heads, std::int64_t d, bool causal) {
  ir::Workload w;
  w.batch = 1;
  w.seq_len = seq;
  w.q_heads = heads;
  w.kv_heads = kv_heads;
  w.head_dim = d;
  w.dtype = ir::DType::fp32;  // the cpu backend holds every dtype as float32: time what it moves
  w.causal = causal;
  w.pass = ir::Pass::forward;
  return w;
}

template <class T>
std::pair<ir::OpId, T> find_op(const ir::RankProgram& prog) {
  for (const auto& op : prog.ops) {
    if (const auto* k = std::get_if<T>(&op.kind)) return {op.id, *k};
  }
  throw Error("calibrate: the generated schedule lacks the op to time");
}

/// One attention block q_len x kv_len (one head) of head dim d: a one-rank ring schedule of
/// max(q_len, kv_len) tokens whose single Attend is cut down to q rows [0, q_len) and kv rows [0, kv_len).
AttendSample time_attend(runtime::Backend& backend, const CalibrationOptions& o, std::int64_t d, bool causal,
                         std::int64_t q_len, std::int64_t kv_len) {
  const auto w = workload(std::max(q_len, kv_len), 1, 1, d, causal);
  ir::Schedule s = ir::generate(w, ir::ScheduleSpec{"ring", 1, {}});
  auto [id, a] = find_op<ir::Attend>(s.ranks[0]);
  const ir::TokenSet qs{{ir::Chunk{0, q_len, 1}}};
  const ir::TokenSet ks{{ir::Chunk{0, kv_len, 1}}};
  s.token_sets.push_back(qs);
  a.q.positions = static_cast<ir::TokenSetId>(s.token_sets.size() - 1);
  a.q.tokens = q_len;
  s.token_sets.push_back(ks);
  a.kv.positions = static_cast<ir::TokenSetId>(s.token_sets.size() - 1);
  a.kv.tokens = kv_len;
  a.mask = ir::mask_relation(w, qs, ks);
  a.flops = ir::attend_flops(w, qs, ks);
  s.ranks[0].ops[id].kind = a;
  const auto inputs = runtime::make_inputs(w, o.seed);
  const double t = time_op(
      backend, o,
      [&] {
        backend.allocate(s);
        runtime::load_inputs(s, inputs, backend);
      },
      {{0, id}}, [&](std::int32_t r) { backend.attend(r, id, a); }, [](const std::vector<double>& v) { return v[0]; });
  return AttendSample{d, causal, q_len, kv_len, a.flops, t};
}

/// A merge of `rows` rows: rank 0's Merge of a two-rank non-causal ring, with finite LSEs on both sides
/// (the -inf shortcuts of the kernel are not what a ring step pays).
StreamSample time_merge(runtime::Backend& backend, const CalibrationOptions& o, std::int64_t rows) {
  const auto w = workload(2 * rows, o.stream_heads, 1, o.stream_head_dim, false);
  const ir::Schedule s = ir::generate(w, ir::ScheduleSpec{"ring", 2, {}});
  const auto [id, m] = find_op<ir::Merge>(s.ranks[0]);
  const auto& prog = s.ranks[0];
  const auto fill = [&](ir::BufferId b, float v) {
    const auto n = prog.buffers[b].bytes.value / ir::element_bytes(prog.buffers[b].dtype);
    const std::vector<float> values(idx(n), v);
    backend.write_buffer(0, b, 0, values);
  };
  const double t = time_op(
      backend, o,
      [&] {
        backend.allocate(s);
        fill(m.lse, 0.5F);
        fill(m.partial_lse, 0.25F);
        fill(m.out, 1.0F);
        fill(m.partial_out, 2.0F);
      },
      {{0, id}},  // rank 1 (run_ranks runs it too) launches nothing
      [&](std::int32_t r) {
        if (r == 0) backend.merge(r, id, m);
      },
      [](const std::vector<double>& v) { return v[0]; });
  return StreamSample{"merge", models::merge_bytes(m, w, prog), t};
}

/// A local copy of the K,V of `tokens` tokens: the Copy of a one-rank all-gather schedule.
StreamSample time_copy(runtime::Backend& backend, const CalibrationOptions& o, std::int64_t tokens) {
  const auto w = workload(tokens, o.stream_heads, o.stream_heads, o.stream_head_dim, false);
  const ir::Schedule s = ir::generate(w, ir::ScheduleSpec{"allgather", 1, {}});
  const auto [id, c] = find_op<ir::Copy>(s.ranks[0]);
  const double t = time_op(
      backend, o, [&] { backend.allocate(s); }, {{0, id}}, [&](std::int32_t r) { backend.copy(r, id, c); },
      [](const std::vector<double>& v) { return v[0]; });
  return StreamSample{"copy", c.src.bytes * 2, t};
}

/// A rendezvous transfer of `bytes` from rank 0 to rank 1: the first send/recv pair of a two-rank ring
/// whose KV slot holds at least `bytes`, resized to `bytes`. Each side's record runs from its own post
/// to the data landing; the shorter one starts when both were posted (the rendezvous), as the
/// simulator's transfer does.
TransferSample time_transfer(runtime::Backend& backend, const CalibrationOptions& o, Bytes bytes) {
  constexpr std::int64_t d = 64;
  constexpr std::int64_t per_token = 2 * d * 4;  // K and V of one fp32 head
  const std::int64_t tokens = std::max<std::int64_t>(1, (bytes.value + per_token - 1) / per_token);
  const auto w = workload(2 * tokens, 1, 1, d, false);
  const ir::Schedule s = ir::generate(w, ir::ScheduleSpec{"ring", 2, {}});
  auto [send_id, send] = find_op<ir::Send>(s.ranks[0]);
  auto [recv_id, recv] = find_op<ir::Recv>(s.ranks[1]);
  if (send.peer != 1 || recv.peer != 0 || send.tag != recv.tag) throw Error("calibrate: unexpected ring transfer");
  send.data.bytes = bytes;
  recv.data.bytes = bytes;
  const double t = time_op(
      backend, o, [&] { backend.allocate(s); }, {{0, send_id}, {1, recv_id}},
      [&](std::int32_t r) {
        if (r == 0) {
          backend.post_send(r, send_id, send);
        } else {
          backend.post_recv(r, recv_id, recv);
        }
      },
      [](const std::vector<double>& v) { return std::min(v[0], v[1]); });
  return TransferSample{bytes, t};
}

std::string fmt_bytes(Bytes b) {
  const auto v = b.value;
  if (v >= (kKiB << 10) && v % (kKiB << 10) == 0) return fmt::format("{} MiB", v / (kKiB << 10));
  if (v >= kKiB && v % kKiB == 0) return fmt::format("{} KiB", v / kKiB);
  return fmt::format("{} B", v);
}

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

double median(std::vector<double> values) {
  if (values.empty()) throw Error("median of no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

CalibrationOptions CalibrationOptions::full() {
  CalibrationOptions o;
  for (std::int64_t b = kKiB; b <= 64 * kKiB * kKiB; b *= 4) o.message_sizes.emplace_back(b);
  return o;
}

CalibrationOptions CalibrationOptions::quick() {
  CalibrationOptions o;
  o.block_lengths = {128, 512};
  o.stream_rows = {512, 4096};
  o.repetitions = 3;
  for (std::int64_t b = 4 * kKiB; b <= 4 * kKiB * kKiB; b *= 4) o.message_sizes.emplace_back(b);
  return o;
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

Calibration calibrate(runtime::Backend& backend, const CalibrationOptions& o) {
  if (o.repetitions < 1) throw Error(fmt::format("calibrate: repetitions must be >= 1, got {}", o.repetitions));
  if (o.warmup < 0) throw Error(fmt::format("calibrate: warmup must be >= 0, got {}", o.warmup));
  if (o.block_lengths.empty() || o.head_dims.empty() || o.dtypes.empty() || o.stream_rows.size() < 1 ||
      o.message_sizes.size() < 2) {
    throw Error("calibrate: needs block lengths, head dims, dtypes, stream rows and at least two message sizes");
  }
  for (auto b : o.message_sizes) {
    if (b.value < 4 || b.value % 4 != 0) {
      throw Error(fmt::format("calibrate: message size {} B is not a positive multiple of 4 (float32 elements)", b.value));
    }
  }
  for (auto v : o.block_lengths)
    if (v < 1) throw Error(fmt::format("calibrate: block length {} must be >= 1", v));
  for (auto v : o.head_dims)
    if (v < 1 || v > 4096) throw Error(fmt::format("calibrate: head dim {} must be in [1, 4096]", v));
  for (auto v : o.stream_rows)
    if (v < 1) throw Error(fmt::format("calibrate: stream rows {} must be >= 1", v));

  Calibration c;
  c.backend = backend.name();
  c.threads = static_cast<std::int32_t>(std::max(1U, std::thread::hardware_concurrency()));
  c.machine = fmt::format("{}, {} hardware threads", cpu_model(), c.threads);
  c.date = utc_date();
  c.host_memory = physical_memory();
  c.dtypes = o.dtypes;
  c.repetitions = o.repetitions;
  c.device_name = o.device_name;

  auto lengths = o.block_lengths;
  std::sort(lengths.begin(), lengths.end());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  auto dims = o.head_dims;
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());

  for (const bool causal : {false, true}) {
    for (const auto d : dims) {
      for (const auto q : lengths) {
        for (const auto k : lengths) {
          c.attends.push_back(time_attend(backend, o, d, causal, q, k));
          const auto& s = c.attends.back();
          say(o, fmt::format("attend {:>6} d={:<4} {:>5} x {:<5} {:>10.3f} ms  {:.4f} GFLOP/s",
                             causal ? "causal" : "full", d, q, k, s.seconds * 1e3,
                             static_cast<double>(s.flops.value) / s.seconds / 1e9));
        }
      }
    }
  }
  for (const auto rows : o.stream_rows) {
    for (auto s : {time_merge(backend, o, rows), time_copy(backend, o, rows)}) {
      say(o, fmt::format("{:<6} {:>6} rows {:>12} B {:>10.3f} us  {:.3f} GB/s", s.kind, rows, s.model_bytes.value,
                         s.seconds * 1e6, static_cast<double>(s.model_bytes.value) / s.seconds / 1e9));
      c.streams.push_back(s);
    }
  }
  for (const auto b : o.message_sizes) {
    c.transfers.push_back(time_transfer(backend, o, b));
    const auto& s = c.transfers.back();
    say(o, fmt::format("transfer {:>8} {:>10.3f} us  {:.3f} GB/s", fmt_bytes(b), s.seconds * 1e6,
                       static_cast<double>(b.value) / s.seconds / 1e9));
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
  out += fmt::format("name: {}\n", name);
  out += fmt::format("description: \"{} rank threads of one host as virtual devices, joined pairwise\"\n", gpus);
  out += fmt::format("device: {}\n", device_file);
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
                   c.transfers.size(), c.transfers.empty() ? "" : fmt_bytes(c.transfers.front().bytes),
                   c.transfers.empty() ? "" : fmt_bytes(c.transfers.back().bytes));
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
  o += fmt::format("name: {}\n", c.device_name);
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
