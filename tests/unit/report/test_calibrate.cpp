// calibrate: the fits on synthetic timings (exact by construction), the profile and topology it writes
// (read back through the models' and topology's own loaders), errors on bad profiles, and the
// predicted-vs-measured loop at small size. Nothing here asserts how fast anything ran.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/ir/experiment.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/ir/serialize.hpp"
#include "ringlab/models/comm.hpp"
#include "ringlab/models/compute.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/models/registry.hpp"
#include "ringlab/report/calibrate.hpp"
#include "ringlab/report/compare.hpp"
#include "ringlab/runtime/calibration.hpp"
#include "ringlab/runtime/cpu_backend.hpp"
#include "ringlab/runtime/numerics.hpp"
#include "ringlab/sim/adapters.hpp"
#include "ringlab/topology/load.hpp"
#include "ringlab/trace/chrome.hpp"

using namespace ringlab;

namespace {

std::filesystem::path temp_dir() {
  const auto dir = std::filesystem::temp_directory_path() / "ringlab_test_calibrate";
  std::filesystem::create_directories(dir);
  return dir;
}

std::string write_text(const std::string& name, const std::string& text) {
  const auto path = (temp_dir() / name).string();
  write_file_atomic(path, text);
  return path;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

/// Line (1-based) of the first line of `text` starting with `prefix`.
int line_of(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.rfind(prefix, 0) == 0) return n;
  return 0;
}

constexpr double kLaunchS = 2e-6;    // synthetic launch overhead: 2 us
constexpr double kStreamBw = 4e9;    // synthetic merge/copy rate: 4 GB/s
constexpr double kLatencyS = 20e-6;  // synthetic transfer latency: 20 us
constexpr double kLinkBw = 8.3e9;    // synthetic transfer bandwidth: 8.3 GB/s
constexpr double kPeak = 5e9;        // synthetic attention limit: 5 GFLOP/s at d = 64
constexpr double kHalf = 100;        // synthetic s_half: 100 tokens

/// A calibration whose timings follow the models exactly: stream time = launch + bytes / bw, transfer
/// time = latency + bytes / bw, attention time = launch + flops / rate with rate(s) = peak' s / (s + 100)
/// (peak' = kPeak at d = 64 and kPeak / 2 at d = 32) and causal-diagonal blocks at 0.8 x that rate.
report::Calibration synthetic() {
  report::Calibration c;
  c.backend = "cpu";
  c.machine = "synthetic";
  c.date = "2000-01-01";
  c.threads = 2;
  c.host_memory = Bytes(std::int64_t{8} << 30);
  c.dtypes = {ir::DType::fp32, ir::DType::bf16};
  c.repetitions = 1;
  c.device_name = "cpu-host (calibrated)";
  for (const double b : {1e5, 1e6, 1e7}) {
    c.streams.push_back({"merge", Bytes(static_cast<std::int64_t>(b)), kLaunchS + b / kStreamBw});
    c.streams.push_back({"copy", Bytes(static_cast<std::int64_t>(2 * b)), kLaunchS + 2 * b / kStreamBw});
  }
  for (std::int64_t b = 1024; b <= (std::int64_t{64} << 20); b *= 4) {
    c.transfers.push_back({Bytes(b), kLatencyS + static_cast<double>(b) / kLinkBw});
  }
  for (const bool causal : {false, true}) {
    for (const std::int64_t d : {32, 64}) {
      for (const std::int64_t q : {128, 512}) {
        for (const std::int64_t k : {128, 512}) {
          const double s = 2.0 * static_cast<double>(q * k) / static_cast<double>(q + k);
          const double rate = (d == 64 ? kPeak : kPeak / 2) * s / (s + kHalf) * (causal ? 0.8 : 1.0);
          const Flops f(4 * q * k * d / (causal ? 2 : 1));
          c.attends.push_back({d, causal, q, k, f, kLaunchS + static_cast<double>(f.value) / rate});
        }
      }
    }
  }
  report::fit(c);
  return c;
}

}  // namespace

TEST_CASE("fit_line: exact slope and intercept, weighted or not; errors") {
  const std::vector<double> x{1024, 65536, 1 << 20, 64 << 20};
  std::vector<double> y, w;
  for (double v : x) {
    y.push_back(3e-6 + v / 5e9);
    w.push_back(1.0 / (y.back() * y.back()));
  }
  for (const auto& f : {report::fit_line(x, y), report::fit_line(x, y, w)}) {
    CHECK(f.intercept == doctest::Approx(3e-6).epsilon(1e-9));
    CHECK(f.slope == doctest::Approx(1 / 5e9).epsilon(1e-9));
    CHECK(f.points == 4);
    CHECK(f.max_rel_residual < 1e-9);
  }
  // Two points determine the line: y = 1 + 2x through (1, 3) and (3, 7).
  const auto two = report::fit_line(std::vector<double>{1, 3}, std::vector<double>{3, 7});
  CHECK(two.intercept == doctest::Approx(1.0));
  CHECK(two.slope == doctest::Approx(2.0));
  CHECK_THROWS_WITH_AS((void)report::fit_line(std::vector<double>{1}, std::vector<double>{1}),
                       doctest::Contains("two distinct x"), Error);
  CHECK_THROWS_WITH_AS((void)report::fit_line(std::vector<double>{2, 2}, std::vector<double>{1, 3}),
                       doctest::Contains("same"), Error);
  CHECK_THROWS_AS((void)report::fit_line(std::vector<double>{1, 2}, std::vector<double>{1}), Error);
  CHECK_THROWS_AS((void)report::fit_line(std::vector<double>{1, 2}, std::vector<double>{1, 2}, std::vector<double>{1, 0}),
                  Error);
}

TEST_CASE("fit: every parameter recovered from timings that follow the models") {
  const auto c = synthetic();
  CHECK(to_seconds(c.launch_overhead) == doctest::Approx(kLaunchS).epsilon(1e-6));
  CHECK(c.stream_bandwidth.value == doctest::Approx(kStreamBw).epsilon(1e-9));
  CHECK(to_seconds(c.transfer_latency) == doctest::Approx(kLatencyS).epsilon(1e-6));
  CHECK(c.transfer_bandwidth.value == doctest::Approx(kLinkBw).epsilon(1e-9));
  // 1/rate = 1/peak + (s_half/peak) / s is a line in 1/s: the square full blocks give peak and s_half.
  CHECK(c.peak.value == doctest::Approx(kPeak).epsilon(1e-6));
  REQUIRE(c.forward.size() == 2);
  CHECK(c.forward[0].head_dim == 32);
  CHECK(c.forward[0].forward.max == doctest::Approx(0.5).epsilon(1e-6));
  CHECK(c.forward[0].forward.s_half == doctest::Approx(kHalf).epsilon(1e-6));
  CHECK(c.forward[1].forward.max == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(c.forward[1].forward.s_half == doctest::Approx(kHalf).epsilon(1e-6));
  // A constant causal factor 0.8: eff_max 0.8, s_half 0.
  CHECK(c.partial.max == doctest::Approx(0.8).epsilon(1e-6));
  CHECK(c.partial.s_half == doctest::Approx(0.0).epsilon(1e-6));
  // The launch is taken out of each block's rate, since the models add it back.
  CHECK(report::sample_rate(c.attends[0], c.launch_overhead).value ==
        doctest::Approx(kPeak / 2 * 128 / (128 + kHalf)).epsilon(1e-6));

  report::Calibration empty = c;
  empty.transfers.resize(1);
  CHECK_THROWS_WITH_AS(report::fit(empty), doctest::Contains("two distinct x"), Error);
  report::Calibration noisy = c;  // bigger messages faster: no bandwidth can explain it
  noisy.transfers = {{Bytes(1024), 1e-3}, {Bytes(1 << 20), 1e-4}};
  CHECK_THROWS_WITH_AS(report::fit(noisy), doctest::Contains("too noisy"), Error);
  // Each kind of timing missing is named, as is a stream rate no timing supports.
  report::Calibration no_streams = c;
  no_streams.streams.clear();
  CHECK_THROWS_WITH_AS(report::fit(no_streams), "calibrate: no merge/copy timings to fit", Error);
  report::Calibration no_transfers = c;
  no_transfers.transfers.clear();
  CHECK_THROWS_WITH_AS(report::fit(no_transfers), "calibrate: no transfer timings to fit", Error);
  report::Calibration no_attends = c;
  no_attends.attends.clear();
  CHECK_THROWS_WITH_AS(report::fit(no_attends), "calibrate: no attention timings to fit", Error);
  report::Calibration shrinking = c;  // bigger merges faster
  shrinking.streams = {{"merge", Bytes(1024), 1e-3}, {"merge", Bytes(1 << 20), 1e-4}};
  CHECK_THROWS_WITH_AS(report::fit(shrinking), doctest::Contains("merge/copy times do not grow with their bytes"),
                       Error);
}

TEST_CASE("profile: written in the device schema and read back by models::load_device") {
  const auto c = synthetic();
  const auto path = write_text("profile.yaml", report::profile_yaml(c, "profile-topology.yaml"));
  const models::DeviceSpec d = models::load_device(path);
  CHECK(d.name == "cpu-host (calibrated)");
  CHECK(d.sm_count == 2);
  CHECK(d.peak_rate(ir::DType::fp32).value == doctest::Approx(kPeak).epsilon(1e-5));
  CHECK(d.peak_rate(ir::DType::bf16).value == doctest::Approx(kPeak).epsilon(1e-5));
  CHECK(d.streaming_bandwidth().value == doctest::Approx(kStreamBw).epsilon(1e-5));
  CHECK(to_seconds(d.launch_overhead) == doctest::Approx(kLaunchS).epsilon(1e-5));
  CHECK(d.hbm_capacity.value == std::int64_t{8} << 30);
  // Rows: 2 dtypes x 2 masks x 2 head dims x 2 x 2 (q_len, kv_len).
  REQUIRE(d.attention_table.points.size() == 32);
  for (const auto dt : {ir::DType::fp32, ir::DType::bf16}) {
    for (const auto& s : c.attends) {
      const auto r = d.attention_table.lookup(ir::Pass::forward, dt, s.head_dim, s.causal, s.q_len, s.kv_len);
      REQUIRE(r.has_value());
      CHECK(r->value == doctest::Approx(report::sample_rate(s, c.launch_overhead).value).epsilon(1e-5));
    }
  }
  CHECK_FALSE(d.attention_table.lookup(ir::Pass::forward, ir::DType::fp16, 64, false, 128, 128).has_value());
  // The table model then prices a measured block as launch + flops / rate = the measured median.
  const auto model = models::make_compute_model("table", d);
  const auto& s = c.attends[5];  // d = 64, full, 128 x 512
  const Time t = model->attend_time(models::AttendShape{s.q_len, s.kv_len, 1, s.head_dim, ir::DType::fp32,
                                                        ir::Mask::full, ir::Pass::forward, s.flops});
  CHECK(to_seconds(t) == doctest::Approx(s.seconds).epsilon(1e-5));
}

TEST_CASE("companion topology: the comm model reproduces the measured transfer") {
  const auto c = synthetic();
  const auto link = report::link_figures(c.transfer_latency, c.transfer_bandwidth);
  // Simple protocol over one NVLink-kind hop: 8.4 + 3.4 us fixed, 0.83 link efficiency.
  CHECK(link.floor_us == doctest::Approx(11.8));
  CHECK(link.latency_us == doctest::Approx(20.0 - 11.8).epsilon(1e-6));
  CHECK(link.bandwidth_gbps == doctest::Approx(8.3 / 0.83).epsilon(1e-9));
  (void)write_text("profile.yaml", report::profile_yaml(c));
  const auto topo = write_text("profile-topology.yaml",
                               report::cpu_host_topology_yaml("t", "profile.yaml", 4, link, "# test\n"));
  const auto cluster = topology::load_topology(topo);
  REQUIRE(cluster.gpu_count() == 4);
  const auto route = cluster.route(1, 3);
  REQUIRE(route.hops.size() == 1);
  const auto device = models::load_device(cluster.device_spec());
  CHECK(device.name == "cpu-host (calibrated)");
  const models::CommModel comm(models::default_comm_params(), device);
  const Bytes n(std::int64_t{1} << 20);  // above the LL threshold: Simple
  CHECK(to_seconds(comm.idle_time(n, route)) ==
        doctest::Approx(kLatencyS + static_cast<double>(n.value) / kLinkBw).epsilon(1e-6));
  // A measured latency below the model's floor cannot be represented: the link gets 0.001 us.
  CHECK(report::link_figures(microseconds(3), gb_per_s(1)).latency_us == doctest::Approx(0.001));
  CHECK_THROWS_AS((void)report::cpu_host_topology_yaml("t", "p.yaml", 1, link, ""), Error);
}

TEST_CASE("profile and companion topology: names and paths a user chose read back as themselves") {
  auto c = synthetic();
  c.device_name = "cpu: \"x\" # y \\ z";
  const auto profile = write_text("odd: name #1.yaml", report::profile_yaml(c));
  CHECK(models::load_device(profile).name == c.device_name);
  const auto link = report::link_figures(c.transfer_latency, c.transfer_bandwidth);
  const auto topo = write_text("odd-topology.yaml",
                               report::cpu_host_topology_yaml("t: \"1\"", "odd: name #1.yaml", 2, link, ""));
  const auto cluster = topology::load_topology(topo);
  CHECK(cluster.name() == "t: \"1\"");
  CHECK(models::load_cluster_device(cluster).name == c.device_name);
}

TEST_CASE("profile errors: another device, malformed values, missing file") {
  const std::string text = report::profile_yaml(synthetic());
  const auto path = write_text("profile-name.yaml", text);
  CHECK(models::load_device_profile(path, "cpu-host").name == "cpu-host (calibrated)");
  CHECK(models::load_device_profile(path, "cpu-host (calibrated)").name == "cpu-host (calibrated)");
  CHECK(models::load_device_profile(path).name == "cpu-host (calibrated)");
  try {
    (void)models::load_device_profile(path, "NVIDIA H100 SXM5 80GB");
    FAIL("a profile of another device was accepted");
  } catch (const InputError& e) {
    CHECK(e.file() == path);
    CHECK(e.line() == line_of(text, "name:"));
    CHECK(e.field() == "name");
    CHECK(std::string(e.what()).find("profile is for device 'cpu-host (calibrated)', not 'NVIDIA H100 SXM5 80GB'") !=
          std::string::npos);
  }
  // An efficiency above 1 names its line and field.
  const auto bad_text = replace(text, "hbm_efficiency: 1.0", "hbm_efficiency: 1.5");
  const auto bad = write_text("profile-bad.yaml", bad_text);
  try {
    (void)models::load_device_profile(bad, "cpu-host");
    FAIL("a malformed profile was accepted");
  } catch (const InputError& e) {
    CHECK(e.file() == bad);
    CHECK(e.line() == line_of(bad_text, "hbm_efficiency:"));
    CHECK(e.field() == "hbm_efficiency");
  }
  // A table row missing from the grid names the file and the row.
  const auto row = text.substr(text.rfind("  - {pass: forward"));
  const auto holey = write_text("profile-holey.yaml", text.substr(0, text.size() - row.size()));
  CHECK_THROWS_AS((void)models::load_device_profile(holey), InputError);
  CHECK_THROWS_WITH_AS((void)models::load_device_profile((temp_dir() / "absent.yaml").string()),
                       doctest::Contains("absent.yaml"), InputError);
}

TEST_CASE("calibrate on the cpu backend: every point timed, the profile loads back") {
  auto o = runtime::CalibrationGrid::quick();
  o.block_lengths = {16, 64};
  o.head_dims = {8};
  o.stream_rows = {16, 16384};
  o.stream_heads = 1;
  o.stream_head_dim = 16;
  o.message_sizes = {Bytes(4096), Bytes(std::int64_t{4} << 20)};  // 1000x apart: the slope is positive
  o.repetitions = 3;
  o.warmup = 0;
  std::vector<std::string> lines;
  o.progress = [&](const std::string& l) { lines.push_back(l); };
  runtime::CpuBackend backend;
  const auto timings = runtime::time_calibration_ops(backend, o);
  CHECK(timings.ops.size() == 14);
  const auto c = report::calibration_of(timings, report::ProfileOptions{});
  CHECK(c.backend == "cpu");
  CHECK(c.attends.size() == 8);  // 2 masks x 1 head dim x 2 x 2
  CHECK(c.streams.size() == 4);  // merge and copy at 2 sizes
  CHECK(c.transfers.size() == 2);
  CHECK(lines.size() == 14);
  for (const auto& s : c.attends) {
    CHECK(s.seconds > 0);
    ir::Workload w;
    w.seq_len = std::max(s.q_len, s.kv_len);
    w.q_heads = 1;
    w.kv_heads = 1;
    w.head_dim = 8;
    w.dtype = ir::DType::fp32;
    w.causal = s.causal;
    CHECK(s.flops == ir::attend_flops(w, ir::TokenSet{{ir::Chunk{0, s.q_len, 1}}},
                                      ir::TokenSet{{ir::Chunk{0, s.kv_len, 1}}}));
  }
  CHECK(c.streams[0].kind == "merge");
  // Merge of 16 rows x 1 head, d = 16, fp32: 16 x (16 x 12 + 12) bytes as the models count them.
  CHECK(c.streams[0].model_bytes.value == 16 * (16 * 12 + 12));
  CHECK(c.streams[1].model_bytes.value == 2 * 16 * 2 * 16 * 4);  // copy of K,V of 16 tokens, read + write
  const auto path = write_text("measured.yaml", report::profile_yaml(c));
  const auto d = models::load_device_profile(path, "cpu-host");
  CHECK(d.attention_table.points.size() == 8);
  CHECK(d.attention_table.lookup(ir::Pass::forward, ir::DType::fp32, 8, true, 16, 64).has_value());

  // An op calibration does not time is refused by the fit, by kind (the grid's own errors: runtime's tests).
  auto odd = timings;
  odd.ops.front().op.kind = ir::Recv{};
  CHECK_THROWS_WITH_AS((void)report::calibration_of(odd, report::ProfileOptions{}), doctest::Contains("timed recv op"),
                       Error);
  CHECK_THROWS_WITH_AS((void)report::calibration_of(timings, report::ProfileOptions{{}, "x"}),
                       doctest::Contains("no dtypes"), Error);
}

TEST_CASE("the loop at P = 2: calibrate, simulate, run, compare") {
  const std::string exp = std::string(RINGLAB_SOURCE_DIR) + "/configs/experiments/cpu-loop.yaml";
  const std::vector<std::string> small{"workload.seq_len=256"};

  // Calibrate a tiny grid around the loop's 128 x 128 blocks and write the profile + topology.
  auto o = runtime::CalibrationGrid::quick();
  o.block_lengths = {64, 128};
  o.head_dims = {32};
  o.stream_rows = {16, 4096};
  o.message_sizes = {Bytes(4096), Bytes(std::int64_t{4} << 20)};
  o.repetitions = 1;
  o.warmup = 0;
  runtime::CpuBackend calib_backend;
  const auto c = report::calibration_of(runtime::time_calibration_ops(calib_backend, o), report::ProfileOptions{});
  (void)write_text("loop.yaml", report::profile_yaml(c, "loop-topology.yaml"));
  const auto topo = write_text(
      "loop-topology.yaml",
      report::cpu_host_topology_yaml("loop", "loop.yaml", 4,
                                     report::link_figures(c.transfer_latency, c.transfer_bandwidth), "# loop\n"));

  // Predicted: the simulator with the calibrated device and links.
  auto sim_overrides = small;
  sim_overrides.push_back("topology=" + topo);
  auto x = sim::load_for_simulation(exp, sim_overrides);
  CHECK(x.compute->device().name == "cpu-host (calibrated)");
  const auto predicted = sim::simulate(*x.schedule, *x.platform, x.gpu_of_rank, *x.cost);

  // Measured: the same experiment on the cpu backend.
  const auto e = ir::load_experiment(exp, small);
  const auto schedule = ir::generate(e.workload, e.schedule);
  runtime::CpuBackend backend;
  backend.allocate(schedule);
  runtime::load_inputs(schedule, runtime::make_inputs(schedule.workload, 1), backend);
  const auto measured = runtime::execute(schedule, backend);

  // Same schedule on both sides, every op of every rank in both traces, same kinds and phases.
  CHECK(predicted.trace.schedule_hash == ir::schedule_hash(schedule));
  CHECK(measured.schedule_hash == predicted.trace.schedule_hash);
  const auto ops = [](const trace::Trace& t) {
    std::map<std::pair<std::int32_t, ir::OpId>, std::tuple<std::string, std::uint32_t>> m;
    for (const auto& r : t.records) m[{r.rank, r.op}] = {r.kind, r.phase};
    return m;
  };
  std::size_t total_ops = 0;
  for (const auto& r : schedule.ranks) total_ops += r.ops.size();
  CHECK(predicted.trace.records.size() == total_ops);
  CHECK(measured.records.size() == total_ops);
  CHECK(ops(predicted.trace) == ops(measured));

  // compare on the real pair: whatever the timings, every row's error is 100 (p - m) / m and MAPE
  // their mean absolute value.
  const auto sim_path = (temp_dir() / "loop-sim.json").string();
  const auto run_path = (temp_dir() / "loop-run.json").string();
  trace::write_chrome_trace(sim_path, predicted.trace);
  trace::write_chrome_trace(run_path, measured);
  const auto cmp = report::compare(report::load_measurement(sim_path), report::load_measurement(run_path));
  REQUIRE(cmp.phases.size() == 2);
  double sum = 0;
  int n = 0;
  for (const auto& row : cmp.phases) {
    REQUIRE(row.error_pct.has_value());
    CHECK(*row.error_pct == doctest::Approx(100 * (row.predicted - row.measured) / row.measured));
    sum += std::abs(*row.error_pct);
    ++n;
  }
  CHECK(cmp.mape_pct == doctest::Approx(sum / n));

  // A synthetic pair: the measured side is the prediction stretched 2x in time, so every phase,
  // kind and the total are off by exactly 1/2 - 1 = -50%.
  auto stretched = predicted.trace;
  stretched.source = "cpu";
  for (auto& r : stretched.records) {
    r.start = r.start * 2;
    r.end = r.end * 2;
  }
  const auto str_path = (temp_dir() / "loop-stretched.json").string();
  trace::write_chrome_trace(str_path, stretched);
  const auto syn = report::compare(report::load_measurement(sim_path), report::load_measurement(str_path));
  for (const auto& row : syn.phases) CHECK(*row.error_pct == doctest::Approx(-50.0).epsilon(1e-6));
  for (const auto& row : syn.kinds) CHECK(*row.error_pct == doctest::Approx(-50.0).epsilon(1e-6));
  CHECK(*syn.total.error_pct == doctest::Approx(-50.0).epsilon(1e-6));
  CHECK(syn.mape_pct == doctest::Approx(50.0).epsilon(1e-6));

  // A trace of another schedule is refused.
  const auto other_e = ir::load_experiment(exp, {"workload.seq_len=512"});
  auto other = measured;
  other.schedule_hash = ir::schedule_hash(ir::generate(other_e.workload, other_e.schedule));
  const auto other_path = (temp_dir() / "loop-other.json").string();
  trace::write_chrome_trace(other_path, other);
  CHECK_THROWS_WITH_AS(
      (void)report::compare(report::load_measurement(sim_path), report::load_measurement(other_path)),
      doctest::Contains("refusing to compare different schedules"), Error);
}
