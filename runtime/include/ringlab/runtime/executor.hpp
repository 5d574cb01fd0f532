#pragma once
// The executor: walks every rank's program with the IR's semantics (docs/ir.md, docs/runtime.md) and
// hands each op to a Backend. Nothing here knows how a backend computes or moves data, so the CPU
// backend (threads, host memory) and the CUDA/NCCL backend share one walking logic.
//
// Semantics honoured per rank: ops of one stream run in issue order; an op starts only after its deps
// finished; consecutive ops of one stream with the same nonzero group launch together and the stream
// moves past the group when all its members finished; a Send/Recv pair is a rendezvous that the
// backend completes when both sides are posted.
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "ringlab/core/error.hpp"
#include "ringlab/core/units.hpp"
#include "ringlab/ir/schedule.hpp"
#include "ringlab/trace/record.hpp"

namespace ringlab::runtime {

/// Start and end of one finished op, on the backend's clock (shared by all ranks).
struct OpTiming {
  Time start{0};  ///< when it started (for a transfer: when both sides were posted)
  Time end{0};    ///< when it finished
};

/// Thrown in a rank that stopped because another rank failed first (Backend::abort).
class RunAborted : public Error {
 public:
  using Error::Error;  ///< from a message
};

/// Thrown when an op waited longer than the timeout (a peer that never arrives).
class RunTimeout : public Error {
 public:
  using Error::Error;  ///< from a message
};

/// What executes ops. Launch calls for one rank come from one thread at a time (the one running that
/// rank in run_ranks); different ranks may call concurrently.
class Backend {
 public:
  Backend() = default;           ///< nothing allocated yet
  virtual ~Backend() = default;  ///< releases what the backend holds
  Backend(const Backend&) = delete;             ///< backends own devices, threads and memory
  Backend& operator=(const Backend&) = delete;  ///< not copyable

  /// Name the trace records as its source ("cpu", "cuda").
  [[nodiscard]] virtual std::string name() const = 0;
  /// Allocates every driven rank's buffers for `schedule` (LSE buffers -inf, all others zero) and
  /// checks the backend can run it; throws Error explaining why not. Call before anything else.
  virtual void allocate(const ir::Schedule& schedule) = 0;
  /// Copies float32 `values` into elements [offset, offset + size) of a buffer (any dtype is held as
  /// float32 elements; element i is byte i * element_bytes(dtype) of the IR's layout).
  virtual void write_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset,
                            std::span<const float> values) = 0;
  /// Copies elements [offset, offset + size) of a buffer into `values`.
  virtual void read_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset,
                           std::span<float> values) const = 0;
  /// Whether this process drives `rank` (all ranks for the CPU backend; one per process under MPI).
  [[nodiscard]] virtual bool drives(std::int32_t rank) const = 0;
  /// Runs body(rank) for every driven rank, concurrently; when a body throws, calls abort() so the
  /// others stop, joins them and rethrows the first failure that was not a RunAborted.
  virtual void run_ranks(const std::function<void(std::int32_t)>& body) = 0;
  /// Wakes every rank blocked in wait_any with RunAborted carrying `reason`.
  virtual void abort(const std::string& reason) noexcept = 0;

  /// Launches an Attend (op `id` of `rank`).
  virtual void attend(std::int32_t rank, ir::OpId id, const ir::Attend& op) = 0;
  /// Launches an AttendGrad.
  virtual void attend_grad(std::int32_t rank, ir::OpId id, const ir::AttendGrad& op) = 0;
  /// Launches a Merge (log-sum-exp combine).
  virtual void merge(std::int32_t rank, ir::OpId id, const ir::Merge& op) = 0;
  /// Launches a local Copy.
  virtual void copy(std::int32_t rank, ir::OpId id, const ir::Copy& op) = 0;
  /// Launches a Reduce (dst += src).
  virtual void reduce(std::int32_t rank, ir::OpId id, const ir::Reduce& op) = 0;
  /// Launches a Gemm.
  virtual void gemm(std::int32_t rank, ir::OpId id, const ir::Gemm& op) = 0;
  /// Posts a Send; it finishes when the matching Recv was posted and the data moved.
  virtual void post_send(std::int32_t rank, ir::OpId id, const ir::Send& op) = 0;
  /// Posts a Recv; it finishes when the matching Send was posted and the data moved.
  virtual void post_recv(std::int32_t rank, ir::OpId id, const ir::Recv& op) = 0;

  /// Whether launched op `id` of `rank` has finished.
  [[nodiscard]] virtual bool is_done(std::int32_t rank, ir::OpId id) = 0;
  /// Blocks until one of the launched ops `ids` of `rank` finished (true) or `timeout` passed (false);
  /// throws RunAborted after abort().
  virtual bool wait_any(std::int32_t rank, std::span<const ir::OpId> ids, Time timeout) = 0;
  /// When finished op `id` of `rank` ran.
  [[nodiscard]] virtual OpTiming timing(std::int32_t rank, ir::OpId id) const = 0;
};

/// How to execute.
struct ExecuteOptions {
  std::string schedule_hash;   ///< recorded in the trace; empty: ir::schedule_hash(schedule)
  /// How long a rank blocked on transfers waits for progress before failing (the CPU backend counts
  /// only time in which no rank computes and no op finishes).
  Time timeout = seconds(60);
};

/// Runs `schedule` on `backend` (whose buffers allocate() prepared and the caller filled) and returns
/// one record per op of every driven rank. Throws RunTimeout naming rank and op when a peer never
/// arrives, ValidationError for a program that cannot make progress (a dep on a later op, a group
/// member depending on its own group), and whatever the backend throws.
[[nodiscard]] trace::Trace execute(const ir::Schedule& schedule, Backend& backend, const ExecuteOptions& options = {});

/// "op 5 (send to rank 2, tag 3, phase 1)": how errors name an op.
[[nodiscard]] std::string describe_op(const ir::Op& op);

}  // namespace ringlab::runtime
