// Forward attention kernel throughput on one GPU: TFLOP/s with FLOPs = 4*B*H*s^2*d (halved for
// causal), the median of timed iterations after warm-up (CUDA events). Same shapes as
// bench/sdpa_reference.py so the two can be set side by side; prints a table and `csv,` lines.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ringlab/runtime/cuda/attention.hpp"
#include "ringlab/runtime/cuda/cuda_backend.hpp"

namespace {

struct Args {
  std::vector<std::int64_t> seqs{4096, 8192, 16384, 32768};
  std::int64_t batch = 1, heads = 16, kv_heads = 16, head_dim = 128;
  int warmup = 3, iters = 10;
  std::string dtype = "bf16";
  bool simt = false;
};

std::vector<std::int64_t> parse_list(std::string_view s) {
  std::vector<std::int64_t> v;
  while (!s.empty()) {
    const auto comma = s.find(',');
    v.push_back(std::stoll(std::string(s.substr(0, comma))));
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return v;
}

int usage() {
  fmt::print(stderr,
             "usage: bench_attention_cuda [--seq 4096,8192,...] [--batch B] [--heads H] [--kv-heads G] [--head-dim d]\n"
             "                            [--dtype bf16|fp16|fp32] [--warmup N] [--iters N] [--simt]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ringlab;
  Args a;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view k = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(std::string(k) + " needs a value");
        return argv[++i];
      };
      if (k == "--seq") a.seqs = parse_list(value());
      else if (k == "--batch") a.batch = std::stoll(value());
      else if (k == "--heads") a.heads = std::stoll(value());
      else if (k == "--kv-heads") a.kv_heads = std::stoll(value());
      else if (k == "--head-dim") a.head_dim = std::stoll(value());
      else if (k == "--dtype") a.dtype = value();
      else if (k == "--warmup") a.warmup = std::stoi(value());
      else if (k == "--iters") a.iters = std::stoi(value());
      else if (k == "--simt") a.simt = true;
      else return usage();
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_attention_cuda: {}\n", e.what());
    return usage();
  }
  const ir::DType dtype = a.dtype == "fp16" ? ir::DType::fp16 : a.dtype == "fp32" ? ir::DType::fp32 : ir::DType::bf16;
  if (runtime::cuda::visible_devices() == 0) {
    fmt::print("bench_attention_cuda: no CUDA device visible; nothing measured\n");
    return 0;
  }
  try {
    fmt::print("{:>7} {:>6} {:>12} {:>11} {:>11} {:>9}\n", "seq", "causal", "kernel", "median ms", "min ms", "TFLOP/s");
    std::string device;
    for (const bool causal : {false, true}) {
      for (const auto s : a.seqs) {
        auto t = runtime::cuda::time_block(s, a.batch, a.heads, a.kv_heads, a.head_dim, dtype, causal, a.warmup, a.iters,
                                           a.simt);
        device = t.device;
        std::sort(t.seconds.begin(), t.seconds.end());
        const double med = t.seconds[t.seconds.size() / 2];
        const double flops = 4.0 * static_cast<double>(a.batch * a.heads) * static_cast<double>(s) *
                             static_cast<double>(s) * static_cast<double>(a.head_dim) * (causal ? 0.5 : 1.0);
        const double tf = flops / med / 1e12;
        fmt::print("{:>7} {:>6} {:>12} {:>11.3f} {:>11.3f} {:>9.1f}\n", s, causal ? "yes" : "no", t.kernel, med * 1e3,
                   t.seconds.front() * 1e3, tf);
        fmt::print("csv,ringlab,{},{},{},{},{},{},{},{:.6f},{:.2f}\n", a.dtype, a.batch, a.heads, a.head_dim, s,
                   causal ? 1 : 0, t.kernel, med * 1e3, tf);
      }
    }
    fmt::print("device: {}; B={} H={} G={} d={} {}; {} warm-up + {} timed iterations, median\n", device, a.batch,
               a.heads, a.kv_heads, a.head_dim, a.dtype, a.warmup, a.iters);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_attention_cuda: {}\n", e.what());
    return 1;
  }
  return 0;
}
