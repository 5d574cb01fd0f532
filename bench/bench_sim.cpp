// Simulator throughput: the causal KV ring (Llama-3-8B attention, 4K tokens per rank) at P ranks on a
// multi-node H100 cluster built in code (DGX H100 nodes: NVSwitch inside, one 400G NIC per GPU,
// rail-optimised leaves, non-blocking spine). Each P runs in a child process so peak RSS is its own.
// Prints, per P: IR ops and attention blocks (P^2), CPU seconds to generate (the header only when
// streamed), to construct the simulator, the part of everything spent computing the cluster's routes
// (in brackets), and to run (the simulator generates and compiles each rank's ops as the run reaches
// them, so that is in the run), their total, ops and attention blocks simulated per CPU second of that
// total, peak RSS after generation and at the end, the predicted time and the events processed.
// Usage: bench_sim [P ...] [--trace] [--summary] [--materialise] [--in-process] [--repeat N]
//   default P: 64 256 1024 4096; --trace also records the trace; --summary builds the trace summary as
//   ops retire and reads the programs again for the schedule hash (what `ringlab simulate` does, run_s
//   includes both); --materialise generates the whole
//   schedule first (as a schedule read from a file would be) instead of streaming it from the generator;
//   --in-process runs every P in this process (for heap profilers; peak RSS is then the largest so far);
//   --repeat N runs each P N times, one after the other, and adds a line with the fastest, median and
//   slowest total (a shared host moves single runs by tens of percent from one minute to the next).
#include <fmt/core.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ringlab/ir/generate.hpp"
#include "ringlab/models/comm.hpp"
#include "ringlab/models/compute.hpp"
#include "ringlab/models/device.hpp"
#include "ringlab/sim/adapters.hpp"
#include "ringlab/sim/simulator.hpp"
#include "ringlab/topology/cluster.hpp"
#include "ringlab/trace/summary.hpp"

using namespace ringlab;

namespace {

// CPU time of this process: the machine this runs on is often shared, and wall time would charge us
// for other people's work. (Single-threaded, so CPU time <= wall time.)
double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double peak_rss_gib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is KiB on Linux
}

double mem_available_gib() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  long kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit) {
    if (key == "MemAvailable:") return static_cast<double>(kib) / (1024.0 * 1024.0);
  }
  return 0;
}

// ceil(gpus / 8) DGX H100 nodes. Per node: GPUs on one NVSwitch (NVLink4, 450 GB/s per GPU per
// direction), each GPU with its own ConnectX-7 (PCIe gen5 x16, 64 GB/s) to rail leaf k (NDR 400G =
// 50 GB/s); every leaf has one 50 GB/s uplink per node to each of 8 spines' worth of capacity,
// lumped as one link of nodes x 50 GB/s to a single spine: non-blocking (hardware.md, DGX H100).
topology::Cluster dgx_h100_cluster(int gpus) {
  topology::ClusterBuilder b;
  const int nodes = (gpus + 7) / 8;
  const Time nvl = microseconds(0.5), pcie = microseconds(0.5), net = microseconds(0.2);
  std::vector<topology::VertexId> leaf(8);
  const auto spine = b.add_vertex("spine", topology::DeviceKind::Switch);
  for (int k = 0; k < 8; ++k) {
    leaf[static_cast<std::size_t>(k)] = b.add_vertex(fmt::format("leaf{}", k), topology::DeviceKind::Switch);
    b.add_link(leaf[static_cast<std::size_t>(k)], spine, topology::LinkKind::Net, gb_per_s(50.0 * nodes), net);
  }
  for (int n = 0; n < nodes; ++n) {
    const auto sw = b.add_vertex(fmt::format("n{}.nvswitch", n), topology::DeviceKind::NVSwitch);
    for (int g = 0; g < 8; ++g) {
      const auto gpu = b.add_vertex(fmt::format("n{}.gpu{}", n, g), topology::DeviceKind::GPU, n);
      const auto nic = b.add_vertex(fmt::format("n{}.nic{}", n, g), topology::DeviceKind::NIC);
      b.add_link(gpu, sw, topology::LinkKind::NVLink, gb_per_s(450), nvl);
      b.add_link(gpu, nic, topology::LinkKind::PCIe, gb_per_s(64), pcie);
      b.add_link(nic, leaf[static_cast<std::size_t>(g)], topology::LinkKind::Net, gb_per_s(50), net);
    }
  }
  b.set_name(fmt::format("dgx-h100-x{}", nodes));
  b.set_device_spec(std::string(RINGLAB_SOURCE_DIR) + "/configs/devices/h100-sxm.yaml", 0);
  return b.build();
}

// The cluster as the simulator sees it, timing route(): the simulator asks once per distinct GPU pair
// (P pairs for the ring) and each costs topology::Cluster a Dijkstra from the source (stopped at the
// destination) over a state graph of ~6 states per vertex, so at large P this is its own column.
class TimedPlatform final : public sim::Platform {
 public:
  explicit TimedPlatform(const topology::Cluster& c) : inner_(c) {}
  [[nodiscard]] std::int32_t gpu_count() const override { return inner_.gpu_count(); }
  [[nodiscard]] topology::Route route(std::int32_t src, std::int32_t dst) const override {
    const double t0 = now_s();
    topology::Route r = inner_.route(src, dst);
    seconds_ += now_s() - t0;
    return r;
  }
  [[nodiscard]] double seconds() const noexcept { return seconds_; }

 private:
  sim::ClusterPlatform inner_;
  mutable double seconds_ = 0;
};

// What a run records besides the figures, and how its schedule is read.
struct Mode {
  bool record_trace = false;
  bool summary = false;
  bool materialise = false;
};

// Simulates P ranks and prints its row; `total` gets the CPU seconds the row's Mops/s divide by.
int run_one(int P, const Mode& mode, double& total) {
  const bool materialise = mode.materialise;
  ir::Workload w;
  w.batch = 1;
  w.seq_len = static_cast<std::int64_t>(P) * 4096;
  w.q_heads = 32;
  w.kv_heads = 8;
  w.head_dim = 128;
  w.causal = true;
  ir::ScheduleSpec spec;
  spec.variant = "ring";
  spec.ranks = P;
  // Streamed (default): the generator makes the header now and each rank's ops while the simulator
  // compiles, so gen_s is the header and compile_s includes generating the ops. Materialised: the whole
  // schedule first (gen_s), as a schedule read from a file would be.
  const double t0 = now_s();
  ir::ScheduleGenerator generator(w, spec);
  std::optional<ir::Schedule> whole;
  if (materialise) whole = ir::generate(w, spec);
  const double t1 = now_s();
  const double rss_ir = peak_rss_gib();
  const topology::Cluster cluster = dgx_h100_cluster(P);
  const models::DeviceSpec device = models::load_cluster_device(cluster);
  const models::CommModel comm(models::default_comm_params(), device);
  const models::ParametricComputeModel compute(device);
  const sim::ModelsCostModel cost(compute, comm);
  const TimedPlatform platform(cluster);
  std::vector<std::int32_t> gpu_of_rank(static_cast<std::size_t>(P));
  for (int r = 0; r < P; ++r) gpu_of_rank[static_cast<std::size_t>(r)] = r;
  sim::SimOptions opt;
  opt.record_trace = mode.record_trace;
  trace::SummaryBuilder summary(P, spec.variant);
  if (mode.summary) opt.summary = &summary;
  const double t2 = now_s();
  const ir::StoredSource stored_source(whole ? *whole : generator.header());
  const ir::ScheduleSource& source = whole ? static_cast<const ir::ScheduleSource&>(stored_source) : generator;
  sim::Simulator simulator(source, platform, gpu_of_rank, cost, opt);
  const double t3 = now_s();
  const sim::SimResult res = simulator.run();
  const double t4 = now_s();
  const double ops = static_cast<double>(res.ops);
  const double attends = static_cast<double>(P) * P;
  total = (t1 - t0) + (t4 - t2);
  fmt::print("{:>6} {:>11} {:>11} {:>8.2f} {:>10.2f} {:>9.2f} {:>8.2f} {:>8.2f} {:>10.2f} {:>10.2f} {:>8.2f} {:>9.2f} {:>12.3f} {:>11}\n",
             P, res.ops, P * static_cast<std::int64_t>(P), t1 - t0, t3 - t2, platform.seconds(), t4 - t3, total,
             ops / total / 1e6, attends / total / 1e6, rss_ir, peak_rss_gib(), to_seconds(res.total) * 1e3, res.events);
  std::fflush(stdout);
  return 0;
}

int usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "bench_sim: %s\n", why);
  std::fprintf(why != nullptr ? stderr : stdout,
               "usage: bench_sim [P ...] [--trace] [--summary] [--materialise] [--in-process] [--repeat N]\n"
               "  P: ranks to simulate, each a whole number from 1 to 65536 (default 64 256 1024 4096)\n"
               "  N: runs of each P, from 1 to 100 (default 1); more than one adds their fastest, median and\n"
               "     slowest total\n");
  return why != nullptr ? 2 : 0;
}

// A whole number from lo to hi, or nullopt.
std::optional<long> whole_number(const std::string& a, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(a.c_str(), &end, 10);
  if (a.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) return std::nullopt;
  return v;
}

// One run of P in a child process (so its peak RSS is its own); its total comes back through a pipe.
std::optional<double> run_child(int P, const Mode& mode) {
  int fds[2];
  if (pipe(fds) != 0) {
    fmt::print("{:>6} failed: pipe: {}\n", P, std::strerror(errno));
    return std::nullopt;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    fmt::print("{:>6} failed: fork: {}\n", P, std::strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(fds[0]);
    double total = 0;
    const int rc = run_one(P, mode, total);
    if (rc == 0 && write(fds[1], &total, sizeof total) != static_cast<ssize_t>(sizeof total)) _exit(1);
    _exit(rc);
  }
  close(fds[1]);
  double total = 0;
  const ssize_t got = read(fds[0], &total, sizeof total);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != static_cast<ssize_t>(sizeof total)) {
    fmt::print("{:>6} failed (status {})\n", P, status);
    return std::nullopt;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ps;
  Mode mode;
  bool in_process = false;
  long repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--trace") mode.record_trace = true;
    else if (a == "--summary") mode.summary = true;
    else if (a == "--materialise") mode.materialise = true;
    else if (a == "--in-process") in_process = true;
    else if (a == "--help" || a == "-h") return usage(nullptr);
    else if (a == "--repeat") {
      const std::optional<long> n = i + 1 < argc ? whole_number(argv[i + 1], 1, 100) : std::nullopt;
      if (!n) return usage("--repeat needs a number of runs from 1 to 100");
      repeat = *n;
      ++i;
    } else if (const std::optional<long> p = whole_number(a, 1, 65536)) {
      ps.push_back(static_cast<int>(*p));
    } else {
      return usage(fmt::format("'{}' is neither an option nor a rank count from 1 to 65536", a).c_str());
    }
  }
  if (ps.empty()) ps = {64, 256, 1024, 4096};
  utsname u{};
  uname(&u);
  fmt::print("bench_sim: causal ring, 4096 tokens/rank, 32 q / 8 kv heads, d 128, bf16, on DGX H100 nodes "
             "(built in code); host {} {}, {} online cores (one used); trace {}; summary {}; schedule {}\n",
             u.nodename, u.machine, sysconf(_SC_NPROCESSORS_ONLN), mode.record_trace ? "recorded" : "off",
             mode.summary ? "built as ops retire" : "off", mode.materialise ? "materialised first" : "streamed from the generator");
  fmt::print("{:>6} {:>11} {:>11} {:>8} {:>10} {:>9} {:>8} {:>8} {:>10} {:>10} {:>8} {:>9} {:>12} {:>11}\n", "P", "ops",
             "attends", "gen_s", "compile_s", "(route_s)", "run_s", "total_s", "Mops/s", "Mattend/s", "RSS_gen", "RSS_peak",
             "predicted_ms", "events");
  for (const int P : ps) {
    // The simulator's memory is O(P) (a window of each rank's program); a materialised schedule holds
    // every op, ~176 bytes each in the IR (3.5 ops per rank and step): skip what cannot fit.
    const double need = mode.materialise ? 3.6 * P * static_cast<double>(P) * 176.0 / (1024.0 * 1024 * 1024) : 0.0;
    const double avail = mem_available_gib();
    if (need > 0.8 * avail) {
      fmt::print("{:>6} skipped: needs ~{:.1f} GiB, {:.1f} GiB available\n", P, need, avail);
      continue;
    }
    std::vector<double> totals;
    for (long k = 0; k < repeat; ++k) {
      std::optional<double> total;
      if (in_process) {
        double t = 0;
        if (run_one(P, mode, t) == 0) total = t;
        else fmt::print("{:>6} failed\n", P);
      } else {
        total = run_child(P, mode);
      }
      if (total) totals.push_back(*total);
    }
    if (repeat > 1 && !totals.empty()) {
      std::sort(totals.begin(), totals.end());
      const std::size_t n = totals.size();
      const double median = n % 2 == 1 ? totals[n / 2] : (totals[n / 2 - 1] + totals[n / 2]) / 2;
      fmt::print("{:>6} total_s over {} runs: fastest {:.3f}, median {:.3f}, slowest {:.3f} "
                 "({:.2f} Mattend/s at the median)\n",
                 P, n, totals.front(), median, totals.back(), static_cast<double>(P) * P / median / 1e6);
    }
    std::fflush(stdout);
  }
  return 0;
}
