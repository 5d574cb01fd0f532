#pragma once
// The CUDA/NCCL backend of the executor (docs/cuda.md). Public face only: no CUDA or NCCL header
// leaks from here, so the CLI and tests build with the host compiler alone.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ringlab/core/units.hpp"
#include "ringlab/runtime/executor.hpp"

namespace ringlab::runtime::cuda {

/// How ranks map to processes and GPUs.
enum class LaunchMode : std::uint8_t {
  single_gpu,  ///< one process, one GPU carrying every rank (a stream pair per rank, D2D copies as transport)
  local_gpus,  ///< one process driving one GPU per rank (NCCL communicators initialised together)
  mpi          ///< one process per rank under mpirun/srun (NCCL bootstrapped through MPI)
};
/// "single_gpu", "local_gpus", "mpi".
[[nodiscard]] const char* launch_mode_name(LaunchMode mode) noexcept;
/// Whether this build was configured with MPI (find_package(MPI)); without it LaunchMode::mpi throws.
[[nodiscard]] bool mpi_compiled_in() noexcept;

/// A failed CUDA or NCCL call: names the call, the source file and line, the rank and the op.
class CudaError : public Error {
 public:
  /// Builds "CALL failed: WHAT (FILE:LINE, rank R, OP)"; rank -1 and empty op when not known.
  CudaError(std::string call, std::string what, std::string file, int line, std::int32_t rank, std::string op);
  [[nodiscard]] const std::string& call() const noexcept { return call_; }  ///< the failed call's text
  [[nodiscard]] const std::string& file() const noexcept { return file_; }  ///< source file
  [[nodiscard]] int line() const noexcept { return line_; }                 ///< source line
  [[nodiscard]] std::int32_t rank() const noexcept { return rank_; }        ///< rank, -1 if none
  [[nodiscard]] const std::string& op() const noexcept { return op_; }      ///< op description, empty if none

 private:
  std::string call_;
  std::string file_;
  int line_;
  std::int32_t rank_;
  std::string op_;
};

/// How the CUDA backend runs.
struct CudaBackendOptions {
  LaunchMode mode = LaunchMode::single_gpu;  ///< see LaunchMode
  int device = 0;                  ///< single_gpu: the GPU carrying every rank
  std::vector<int> devices;        ///< local_gpus: rank r runs on devices[r]; empty: rank r on GPU r
  Time nccl_timeout = seconds(60);  ///< longest an NCCL init or group launch may stay in progress
  bool force_simt = false;          ///< use the fp32 SIMT attention kernel even where tensor cores exist
};

/// Runs a schedule on GPUs: per rank one CUDA stream per IR stream (compute, comm and the two aux
/// ones), IR dependencies as CUDA events, send/recv groups as NCCL groups (or device-to-device copies
/// on one GPU), and every op timed with CUDA events against per-rank origins aligned by a barrier.
class CudaBackend final : public Backend {
 public:
  /// Checks the options (devices exist, MPI compiled in for mpi); GPUs are touched only in allocate().
  explicit CudaBackend(CudaBackendOptions options = {});
  ~CudaBackend() override;  ///< aborts communicators still in flight, frees every buffer

  [[nodiscard]] std::string name() const override { return "cuda"; }  ///< "cuda"
  void allocate(const ir::Schedule& schedule) override;                 ///< see Backend; creates communicators
  void write_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset,
                    std::span<const float> values) override;           ///< converts to the buffer's dtype
  void read_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset,
                   std::span<float> values) const override;            ///< converts to float32
  [[nodiscard]] bool drives(std::int32_t rank) const override;         ///< all ranks, or this process's under MPI
  void run_ranks(const std::function<void(std::int32_t)>& body) override;  ///< one host thread per driven rank
  void abort(const std::string& reason) noexcept override;             ///< aborts NCCL communicators too

  void attend(std::int32_t rank, ir::OpId id, const ir::Attend& op) override;           ///< tiled kernel
  void attend_grad(std::int32_t rank, ir::OpId id, const ir::AttendGrad& op) override;  ///< not supported yet
  void merge(std::int32_t rank, ir::OpId id, const ir::Merge& op) override;             ///< LSE merge kernel
  void copy(std::int32_t rank, ir::OpId id, const ir::Copy& op) override;               ///< cudaMemcpyAsync
  void reduce(std::int32_t rank, ir::OpId id, const ir::Reduce& op) override;           ///< dst += src kernel
  void gemm(std::int32_t rank, ir::OpId id, const ir::Gemm& op) override;               ///< not supported yet
  void post_send(std::int32_t rank, ir::OpId id, const ir::Send& op) override;          ///< ncclSend / D2D copy
  void post_recv(std::int32_t rank, ir::OpId id, const ir::Recv& op) override;          ///< ncclRecv / D2D copy

  [[nodiscard]] bool is_done(std::int32_t rank, ir::OpId id) override;                  ///< end event reached
  bool wait_any(std::int32_t rank, std::span<const ir::OpId> ids, Time timeout) override;  ///< polls events and NCCL errors
  [[nodiscard]] OpTiming timing(std::int32_t rank, ir::OpId id) const override;          ///< event times from the origin

  /// Number of ranks in this launch (world size under MPI, else the schedule's).
  [[nodiscard]] std::int32_t world_size() const noexcept;
  /// The rank this process drives under MPI (-1 in the other modes).
  [[nodiscard]] std::int32_t process_rank() const noexcept;
  /// Name of the GPU carrying `rank` ("NVIDIA H100 80GB HBM3 (sm_90)").
  [[nodiscard]] std::string device_name(std::int32_t rank) const;
  /// How many Attend ops ran on tensor cores and how many on the SIMT kernel (all driven ranks).
  [[nodiscard]] std::pair<std::int64_t, std::int64_t> attend_paths() const noexcept;

  struct Impl;  ///< the CUDA side (src/cuda_backend.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

/// Number of CUDA devices visible (0 where there is no driver or no GPU; never throws).
[[nodiscard]] int visible_devices() noexcept;

}  // namespace ringlab::runtime::cuda
