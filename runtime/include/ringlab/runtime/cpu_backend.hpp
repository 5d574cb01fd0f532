#pragma once
// The CPU backend: one thread per rank, buffers as float32 host memory whatever the workload's dtype,
// transfers as copies through rendezvous channels keyed by (source, destination, tag). Real float32
// attention with its log-sum-exp, the LSE merge, copy and reduce; numerics and CI, not speed.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "ringlab/runtime/executor.hpp"

namespace ringlab::runtime {

/// Limits of the CPU backend.
struct CpuBackendOptions {
  Bytes max_host_bytes{std::int64_t{4} << 30};  ///< refuse schedules whose float32 buffers need more
};

/// Runs every rank of a schedule as a thread of this process.
class CpuBackend : public Backend {
 public:
  /// Most ranks (threads) the backend runs.
  static constexpr std::int32_t kMaxRanks = 64;

  /// A backend with the given limits.
  explicit CpuBackend(CpuBackendOptions options = {});
  ~CpuBackend() override;  ///< frees the buffers (no thread outlives run_ranks)

  /// Host bytes the float32 buffers of `schedule` need (all ranks).
  [[nodiscard]] static Bytes host_bytes(const ir::Schedule& schedule);
  /// Throws Error if host_bytes(schedule) + `extra` (inputs, reference) exceeds `limit`, suggesting a
  /// smaller --set workload.seq_len.
  static void check_host_memory(const ir::Schedule& schedule, Bytes extra, Bytes limit);

  [[nodiscard]] std::string name() const override { return "cpu"; }  ///< "cpu"
  void allocate(const ir::Schedule& schedule) override;                ///< see Backend
  void write_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset,
                    std::span<const float> values) override;          ///< see Backend
  void read_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset,
                   std::span<float> values) const override;           ///< see Backend
  [[nodiscard]] bool drives(std::int32_t rank) const override;        ///< every rank of the schedule
  void run_ranks(const std::function<void(std::int32_t)>& body) override;  ///< one thread per rank
  void abort(const std::string& reason) noexcept override;            ///< see Backend

  void attend(std::int32_t rank, ir::OpId id, const ir::Attend& op) override;           ///< runs it now
  void attend_grad(std::int32_t rank, ir::OpId id, const ir::AttendGrad& op) override;  ///< not supported yet
  void merge(std::int32_t rank, ir::OpId id, const ir::Merge& op) override;             ///< runs it now
  void copy(std::int32_t rank, ir::OpId id, const ir::Copy& op) override;               ///< runs it now
  void reduce(std::int32_t rank, ir::OpId id, const ir::Reduce& op) override;           ///< runs it now
  void gemm(std::int32_t rank, ir::OpId id, const ir::Gemm& op) override;               ///< not supported yet
  void post_send(std::int32_t rank, ir::OpId id, const ir::Send& op) override;          ///< rendezvous
  void post_recv(std::int32_t rank, ir::OpId id, const ir::Recv& op) override;          ///< rendezvous

  [[nodiscard]] bool is_done(std::int32_t rank, ir::OpId id) override;                  ///< see Backend
  /// See Backend; the timeout counts only while no rank computes and no op finishes anywhere, so a
  /// slow peer is waited for and a peer that never arrives is not.
  bool wait_any(std::int32_t rank, std::span<const ir::OpId> ids, Time timeout) override;
  [[nodiscard]] OpTiming timing(std::int32_t rank, ir::OpId id) const override;          ///< see Backend

  /// Read-only view of a whole buffer (tests and verification).
  [[nodiscard]] std::span<const float> buffer(std::int32_t rank, ir::BufferId buffer) const;

 protected:
  /// Mutable view of a buffer, for kernels (also those a subclass substitutes).
  [[nodiscard]] std::span<float> mutable_buffer(std::int32_t rank, ir::BufferId buffer);
  /// The schedule allocate() prepared.
  [[nodiscard]] const ir::Schedule& schedule() const;
  /// The Merge kernel (virtual so a test can substitute a wrong one and watch verification fail).
  virtual void merge_kernel(std::int32_t rank, const ir::Merge& op);

 private:
  struct RankState;
  struct Posted {
    std::int32_t rank = 0;
    ir::OpId op = 0;
    std::span<float> data;
    Time posted{0};  // when this side was issued: a transfer's record starts here, as CUDA events measure it
  };
  using ChannelKey = std::tuple<std::int32_t, std::int32_t, std::uint32_t>;  // source, destination, tag
  // Posts one side of a transfer and runs the copy if its peer is already waiting.
  void post(std::int32_t rank, ir::OpId id, std::int32_t peer, const ir::ByteSlice& data, std::uint32_t tag,
            bool is_send);

  [[nodiscard]] RankState& state(std::int32_t rank) const;
  [[nodiscard]] Time now() const noexcept;
  template <class F>
  void run_compute(std::int32_t rank, ir::OpId id, F&& kernel);
  void finish(std::int32_t rank, ir::OpId id, OpTiming t);
  void transfer(const Posted& send, const Posted& recv);
  [[nodiscard]] std::span<float> byte_slice(std::int32_t rank, const ir::ByteSlice& s, const char* what) const;

  CpuBackendOptions options_;
  const ir::Schedule* schedule_ = nullptr;
  std::vector<std::unique_ptr<RankState>> ranks_;
  std::mutex channels_mutex_;
  std::map<ChannelKey, std::deque<Posted>> sends_;
  std::map<ChannelKey, std::deque<Posted>> recvs_;
  std::atomic<bool> aborted_{false};
  std::atomic<std::uint64_t> progress_{0};  // ops finished on any rank (timeouts measure idleness)
  std::atomic<std::int32_t> busy_{0};        // ranks inside a compute kernel right now
  mutable std::mutex abort_mutex_;
  std::string abort_reason_;
  std::int64_t origin_ns_ = 0;  // steady-clock origin of this run's timestamps
};

}  // namespace ringlab::runtime
