// ringlab calibrate: time the backend's own kernels and transfers, write a device profile (the models'
// device schema) and a companion topology carrying the measured transfer figures.
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ringlab/core/error.hpp"
#include "ringlab/core/yaml.hpp"
#include "ringlab/report/calibrate.hpp"
#include "ringlab/runtime/calibration.hpp"
#include "ringlab/runtime/cpu_backend.hpp"

namespace ringlab::app {

namespace {

struct CalibrateArgs {
  std::string backend = "cpu";
  std::string out;
  std::string topology_out;
  bool quick = false;
  int repetitions = 0;  // 0: the preset's
  int warmup = -1;      // -1: the preset's
  std::vector<std::int64_t> head_dims;
  std::vector<std::int64_t> block_lengths;
  std::vector<std::string> dtypes;
  std::string device_name = "cpu-host (calibrated)";
  std::int32_t ranks = 16;
};

/// `out` without its .yaml/.yml extension, plus "-topology.yaml".
std::string default_topology_path(const std::string& out) {
  std::filesystem::path p(out);
  const auto ext = p.extension().string();
  if (ext == ".yaml" || ext == ".yml") p.replace_extension();
  return p.string() + "-topology.yaml";
}

void run(const CalibrateArgs& a) {
  if (a.backend != "cpu") {
    throw InputError("calibrate", 0, 0, "--backend",
                     fmt::format("calibrate times the cpu backend only, got '{}' (use --backend cpu; a GPU profile "
                                 "comes from the CUDA benchmarks in bench/cuda)",
                                 a.backend));
  }
  auto o = a.quick ? runtime::CalibrationGrid::quick() : runtime::CalibrationGrid::full();
  report::ProfileOptions profile;
  if (a.repetitions > 0) o.repetitions = a.repetitions;
  if (a.warmup >= 0) o.warmup = a.warmup;
  if (!a.head_dims.empty()) o.head_dims = a.head_dims;
  if (!a.block_lengths.empty()) o.block_lengths = a.block_lengths;
  if (!a.dtypes.empty()) {
    profile.dtypes.clear();
    for (const auto& d : a.dtypes) {
      profile.dtypes.push_back(d == "bf16" ? ir::DType::bf16 : d == "fp16" ? ir::DType::fp16 : ir::DType::fp32);
    }
  }
  profile.device_name = a.device_name;
  o.progress = [](const std::string& line) { fmt::print(stderr, "calibrate: {}\n", line); };
  if (a.ranks < 2 || a.ranks > runtime::CpuBackend::kMaxRanks) {
    throw InputError("calibrate", 0, 0, "--ranks",
                     fmt::format("the companion topology needs 2 to {} devices, got {}", runtime::CpuBackend::kMaxRanks,
                                 a.ranks));
  }
  const std::string topo = a.topology_out.empty() ? default_topology_path(a.out) : a.topology_out;
  if (std::filesystem::absolute(topo) == std::filesystem::absolute(a.out)) {
    throw InputError("calibrate", 0, 0, "--topology-out", "the topology must not overwrite the profile (--out)");
  }

  runtime::CpuBackend backend;
  const report::Calibration c = report::calibration_of(runtime::time_calibration_ops(backend, o), profile);

  const auto topo_dir = std::filesystem::absolute(topo).parent_path();
  const auto device_rel = std::filesystem::absolute(a.out).lexically_relative(topo_dir).string();
  const auto link = report::link_figures(c.transfer_latency, c.transfer_bandwidth);
  const std::string header = fmt::format(
      "# cpu-host topology written by `ringlab calibrate --backend cpu` on {}, {} (UTC).\n"
      "# Links carry the measured rendezvous transfer: latency {:.3f} us, bandwidth {:.3f} GB/s (see the profile).\n"
      "# bandwidth_gbps = measured / the comm model's nvlink efficiency; latency_us = measured minus the model's\n"
      "# {:.1f} us NCCL software + per-hop latency (0.001 if the measurement is below it).\n",
      c.machine, c.date, to_seconds(c.transfer_latency) * 1e6, c.transfer_bandwidth.value / 1e9, link.floor_us);
  const auto stem = std::filesystem::path(a.out).stem().string();
  write_file_atomic(a.out, report::profile_yaml(c, topo));
  write_file_atomic(topo, report::cpu_host_topology_yaml(stem.empty() ? "cpu-host-calibrated" : stem + "-topology",
                                                         device_rel, a.ranks, link, header));

  fmt::print("machine       {}\n", c.machine);
  fmt::print("attention     {} blocks timed, peak {:.3f} GFLOP/s (fp32 float loop)\n", c.attends.size(),
             c.peak.value / 1e9);
  for (const auto& f : c.forward) {
    fmt::print("  head_dim {:<4} eff_max {:.3f}  s_half {:.1f} tokens\n", f.head_dim, f.forward.max, f.forward.s_half);
  }
  fmt::print("  causal diagonal factor eff_max {:.3f}  s_half {:.1f}\n", c.partial.max, c.partial.s_half);
  fmt::print("merge/copy    {:.3f} GB/s, launch overhead {:.3f} us ({} points, max residual {:.1f}%)\n",
             c.stream_bandwidth.value / 1e9, to_seconds(c.launch_overhead) * 1e6, c.stream_fit.points,
             c.stream_fit.max_rel_residual * 100);
  fmt::print("transfer      latency {:.3f} us, bandwidth {:.3f} GB/s ({} sizes, max residual {:.1f}%)\n",
             to_seconds(c.transfer_latency) * 1e6, c.transfer_bandwidth.value / 1e9, c.transfer_fit.points,
             c.transfer_fit.max_rel_residual * 100);
  fmt::print("  links       bandwidth_gbps {:.4g}, latency_us {:.4g} (model floor {:.1f} us)\n", link.bandwidth_gbps,
             link.latency_us, link.floor_us);
  fmt::print("wrote {}\n", a.out);
  fmt::print("wrote {}   (ringlab simulate EXP --set topology={})\n", topo, topo);
}

}  // namespace

void add_calibrate_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CalibrateArgs>();
  auto* cmd = app.add_subcommand("calibrate", "Time the backend's kernels and transfers; write a device profile");
  cmd->add_option("--backend", args->backend, "Backend to time (cpu)")->capture_default_str();
  cmd->add_option("--out", args->out, "Device profile YAML to write (the models' device schema)")->required();
  cmd->add_option("--topology-out", args->topology_out,
                  "Companion topology with the measured links (default: OUT without .yaml + -topology.yaml)");
  cmd->add_flag("--quick", args->quick, "Small grid, 3 repetitions (CI, a first look)");
  cmd->add_option("--repetitions", args->repetitions, "Timed runs per point (median kept)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--warmup", args->warmup, "Untimed runs before each point")->check(CLI::Range(0, 100));
  cmd->add_option("--head-dim", args->head_dims, "Head dim of the attention table (repeatable)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--block-len", args->block_lengths, "q_len and kv_len grid values (repeatable)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--dtype", args->dtypes, "Dtypes the table rows are written for (repeatable; default fp32)")
      ->check(CLI::IsMember({"bf16", "fp16", "fp32"}));
  cmd->add_option("--device-name", args->device_name, "name: of the profile")->capture_default_str();
  cmd->add_option("--ranks", args->ranks, "Devices in the companion topology")->capture_default_str();
  cmd->callback([args, &exit_code] {
    run(*args);
    exit_code = 0;
  });
}

}  // namespace ringlab::app
