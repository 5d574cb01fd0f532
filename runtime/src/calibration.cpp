#include "ringlab/runtime/calibration.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>
#include <utility>

#include "ringlab/core/error.hpp"
#include "ringlab/core/stats.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/runtime/numerics.hpp"

namespace ringlab::runtime {

namespace {

std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

constexpr std::int64_t kKiB = 1024;

void say(const CalibrationGrid& o, const std::string& line) {
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
std::vector<double> run_once(Backend& backend, const std::vector<Launch>& ops,
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
double time_op(Backend& backend, const CalibrationGrid& o, const std::function<void()>& prepare,
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
trace::OpTiming time_attend(Backend& backend, const CalibrationGrid& o, std::int64_t d, bool causal,
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
  const ir::BlockFigures figures = ir::block_figures(w, qs, ks);
  a.mask = figures.mask;
  a.flops = figures.flops;
  s.ranks[0].ops[id].kind = a;
  const auto inputs = make_inputs(w, o.seed);
  const double t = time_op(
      backend, o,
      [&] {
        backend.allocate(s);
        load_inputs(s, inputs, backend);
      },
      {{0, id}}, [&](std::int32_t r) { backend.attend(r, id, a); }, [](const std::vector<double>& v) { return v[0]; });
  return trace::OpTiming{w, s.ranks[0].buffers, s.ranks[0].ops[id], t};
}

/// A merge of `rows` rows: rank 0's Merge of a two-rank non-causal ring, with finite LSEs on both sides
/// (the -inf shortcuts of the kernel are not what a ring step pays).
trace::OpTiming time_merge(Backend& backend, const CalibrationGrid& o, std::int64_t rows) {
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
  return trace::OpTiming{w, prog.buffers, prog.ops[id], t};
}

/// A local copy of the K,V of `tokens` tokens: the Copy of a one-rank all-gather schedule.
trace::OpTiming time_copy(Backend& backend, const CalibrationGrid& o, std::int64_t tokens) {
  const auto w = workload(tokens, o.stream_heads, o.stream_heads, o.stream_head_dim, false);
  const ir::Schedule s = ir::generate(w, ir::ScheduleSpec{"allgather", 1, {}});
  const auto [id, c] = find_op<ir::Copy>(s.ranks[0]);
  const double t = time_op(
      backend, o, [&] { backend.allocate(s); }, {{0, id}}, [&](std::int32_t r) { backend.copy(r, id, c); },
      [](const std::vector<double>& v) { return v[0]; });
  return trace::OpTiming{w, s.ranks[0].buffers, s.ranks[0].ops[id], t};
}

/// A rendezvous transfer of `bytes` from rank 0 to rank 1: the first send/recv pair of a two-rank ring
/// whose KV slot holds at least `bytes`, resized to `bytes`. Each side's record runs from its own post
/// to the data landing; the shorter one starts when both were posted (the rendezvous), as the
/// simulator's transfer does.
trace::OpTiming time_transfer(Backend& backend, const CalibrationGrid& o, Bytes bytes) {
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
  ir::Op op = s.ranks[0].ops[send_id];
  op.kind = send;
  return trace::OpTiming{w, s.ranks[0].buffers, std::move(op), t};
}

}  // namespace

CalibrationGrid CalibrationGrid::full() {
  CalibrationGrid o;
  for (std::int64_t b = kKiB; b <= 64 * kKiB * kKiB; b *= 4) o.message_sizes.emplace_back(b);
  return o;
}

CalibrationGrid CalibrationGrid::quick() {
  CalibrationGrid o;
  o.block_lengths = {128, 512};
  o.stream_rows = {512, 4096};
  o.repetitions = 3;
  for (std::int64_t b = 4 * kKiB; b <= 4 * kKiB * kKiB; b *= 4) o.message_sizes.emplace_back(b);
  return o;
}

trace::OpTimings time_calibration_ops(Backend& backend, const CalibrationGrid& o) {
  if (o.repetitions < 1) throw Error(fmt::format("calibrate: repetitions must be >= 1, got {}", o.repetitions));
  if (o.warmup < 0) throw Error(fmt::format("calibrate: warmup must be >= 0, got {}", o.warmup));
  if (o.block_lengths.empty() || o.head_dims.empty() || o.stream_rows.empty() || o.message_sizes.size() < 2) {
    throw Error("calibrate: needs block lengths, head dims, stream rows and at least two message sizes");
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

  trace::OpTimings out;
  out.backend = backend.name();
  out.threads = static_cast<std::int32_t>(std::max(1U, std::thread::hardware_concurrency()));
  out.machine = fmt::format("{}, {} hardware threads", cpu_model(), out.threads);
  out.date = utc_date();
  out.host_memory = physical_memory();
  out.repetitions = o.repetitions;

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
          out.ops.push_back(time_attend(backend, o, d, causal, q, k));
          const auto& t = out.ops.back();
          const auto flops = static_cast<double>(ir::op_flops(t.op.kind).value);
          say(o, fmt::format("attend {:>6} d={:<4} {:>5} x {:<5} {:>10.3f} ms  {:.4f} GFLOP/s",
                             causal ? "causal" : "full", d, q, k, t.seconds * 1e3, flops / t.seconds / 1e9));
        }
      }
    }
  }
  for (const auto rows : o.stream_rows) {
    for (const char* kind : {"merge", "copy"}) {
      out.ops.push_back(kind[0] == 'm' ? time_merge(backend, o, rows) : time_copy(backend, o, rows));
      say(o, fmt::format("{:<6} {:>6} rows {:>10.3f} us", kind, rows, out.ops.back().seconds * 1e6));
    }
  }
  for (const auto b : o.message_sizes) {
    out.ops.push_back(time_transfer(backend, o, b));
    const double t = out.ops.back().seconds;
    say(o, fmt::format("transfer {:>8} {:>10.3f} us  {:.3f} GB/s", exact_size(b), t * 1e6,
                       static_cast<double>(b.value) / t / 1e9));
  }
  return out;
}

}  // namespace ringlab::runtime
