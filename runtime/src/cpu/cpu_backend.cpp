#include "ringlab/runtime/cpu_backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <thread>

#include "kernels.hpp"

namespace ringlab::runtime {

/// One rank's host buffers and the completion state of its ops.
struct CpuBackend::RankState {
  std::vector<std::vector<float>> buffers;  // float32 elements, one vector per ir::Buffer
  std::mutex mutex;                         // guards done/timings (transfers finish on other threads)
  std::condition_variable cv;               // signalled when an op of this rank finishes
  std::vector<std::uint8_t> done;
  std::vector<OpTiming> timings;
};

namespace {
std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double gib(std::int64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(std::int64_t{1} << 30); }
}  // namespace

CpuBackend::CpuBackend(CpuBackendOptions options) : options_(options) {}
CpuBackend::~CpuBackend() = default;

Bytes CpuBackend::host_bytes(const ir::Schedule& schedule) {
  std::int64_t total = 0;
  for (const auto& prog : schedule.ranks)
    for (const auto& b : prog.buffers) total += b.bytes.value / ir::element_bytes(b.dtype) * 4;
  return Bytes(total);
}

void CpuBackend::check_host_memory(const ir::Schedule& schedule, Bytes extra, Bytes limit) {
  const Bytes need = host_bytes(schedule) + extra;
  if (need <= limit) return;
  // Host memory grows at least linearly in seq_len, so scaling seq_len by limit/need fits.
  const auto& w = schedule.workload;
  const auto P = std::max<std::int64_t>(1, static_cast<std::int64_t>(schedule.ranks.size()));
  const double ratio = static_cast<double>(limit.value) / static_cast<double>(need.value);
  const std::int64_t suggest =
      std::max<std::int64_t>(P, static_cast<std::int64_t>(static_cast<double>(w.seq_len) * ratio) / P * P);
  throw Error(fmt::format(
      "the cpu backend would need {:.2f} GiB of host memory (float32 buffers of every rank{}), above the limit of "
      "{:.2f} GiB (--max-host-memory-gib); scale the experiment down, e.g. --set workload.seq_len={}",
      gib(need.value), extra.value > 0 ? ", inputs and reference" : "", gib(limit.value), suggest));
}

void CpuBackend::allocate(const ir::Schedule& schedule) {
  const auto P = static_cast<std::int64_t>(schedule.ranks.size());
  if (P < 1) throw ValidationError("the schedule has no ranks");
  if (P > kMaxRanks) {
    throw Error(fmt::format("the cpu backend runs one thread per rank and supports at most {} ranks; this schedule "
                            "has {} (lower schedule.ranks, e.g. --set schedule.ranks={})",
                            kMaxRanks, P, kMaxRanks));
  }
  check_host_memory(schedule, Bytes{0}, options_.max_host_bytes);
  schedule_ = &schedule;
  ranks_.clear();
  for (std::int64_t r = 0; r < P; ++r) {
    const auto& prog = schedule.ranks[idx(r)];
    auto st = std::make_unique<RankState>();
    for (const auto& b : prog.buffers) {
      const auto eb = ir::element_bytes(b.dtype);
      if (b.bytes.value < 0 || b.bytes.value % eb != 0) {
        throw ValidationError(fmt::format("rank {} buffer '{}': {} bytes is not a whole number of {}-byte elements", r,
                                          b.name, b.bytes.value, eb));
      }
      const bool is_lse = b.role == ir::BufferRole::lse || b.role == ir::BufferRole::partial_lse;
      st->buffers.emplace_back(idx(b.bytes.value / eb),
                               is_lse ? -std::numeric_limits<float>::infinity() : 0.0F);
    }
    st->done.assign(prog.ops.size(), 0);
    st->timings.assign(prog.ops.size(), OpTiming{});
    ranks_.push_back(std::move(st));
  }
  sends_.clear();
  recvs_.clear();
}

const ir::Schedule& CpuBackend::schedule() const {
  if (schedule_ == nullptr) throw Error("cpu backend: allocate() was not called");
  return *schedule_;
}

CpuBackend::RankState& CpuBackend::state(std::int32_t rank) const {
  if (rank < 0 || idx(rank) >= ranks_.size()) {
    throw ValidationError(fmt::format("rank {} does not exist (the schedule has {} ranks)", rank, ranks_.size()));
  }
  return *ranks_[idx(rank)];
}

std::span<float> CpuBackend::mutable_buffer(std::int32_t rank, ir::BufferId buffer) {
  auto& st = state(rank);
  if (buffer >= st.buffers.size()) {
    throw ValidationError(fmt::format("rank {}: buffer {} does not exist (rank has {})", rank, buffer, st.buffers.size()));
  }
  return st.buffers[buffer];
}

std::span<const float> CpuBackend::buffer(std::int32_t rank, ir::BufferId buffer) const {
  const auto& st = state(rank);
  if (buffer >= st.buffers.size()) {
    throw ValidationError(fmt::format("rank {}: buffer {} does not exist (rank has {})", rank, buffer, st.buffers.size()));
  }
  return st.buffers[buffer];
}

void CpuBackend::write_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset, std::span<const float> values) {
  auto dst = mutable_buffer(rank, buffer);
  if (offset > dst.size() || values.size() > dst.size() - offset) {
    throw Error(fmt::format("rank {}: write of elements [{}, {}) exceeds buffer {} of {} elements", rank, offset,
                            offset + values.size(), buffer, dst.size()));
  }
  std::copy(values.begin(), values.end(), dst.begin() + static_cast<std::ptrdiff_t>(offset));
}

void CpuBackend::read_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset, std::span<float> values) const {
  const auto src = this->buffer(rank, buffer);
  if (offset > src.size() || values.size() > src.size() - offset) {
    throw Error(fmt::format("rank {}: read of elements [{}, {}) exceeds buffer {} of {} elements", rank, offset,
                            offset + values.size(), buffer, src.size()));
  }
  std::copy_n(src.begin() + static_cast<std::ptrdiff_t>(offset), values.size(), values.begin());
}

bool CpuBackend::drives(std::int32_t rank) const { return rank >= 0 && idx(rank) < ranks_.size(); }

Time CpuBackend::now() const noexcept { return Time((steady_ns() - origin_ns_) * 1000); }

void CpuBackend::run_ranks(const std::function<void(std::int32_t)>& body) {
  (void)schedule();
  aborted_ = false;
  {
    const std::lock_guard lock(abort_mutex_);
    abort_reason_.clear();
  }
  origin_ns_ = steady_ns();
  std::mutex error_mutex;
  std::exception_ptr first;       // the first failure that is not a consequence of another
  std::exception_ptr first_abort;  // kept only in case every failure was an abort
  auto guarded = [&](std::int32_t rank) {
    try {
      body(rank);
    } catch (const RunAborted&) {
      const std::lock_guard lock(error_mutex);
      if (!first_abort) first_abort = std::current_exception();
    } catch (const std::exception& e) {
      {
        const std::lock_guard lock(error_mutex);
        if (!first) first = std::current_exception();
      }
      abort(fmt::format("rank {} failed: {}", rank, e.what()));
    } catch (...) {
      {
        const std::lock_guard lock(error_mutex);
        if (!first) first = std::current_exception();
      }
      abort(fmt::format("rank {} failed", rank));
    }
  };
  const auto P = static_cast<std::int32_t>(ranks_.size());
  std::vector<std::thread> threads;
  threads.reserve(idx(P));
  for (std::int32_t r = 1; r < P; ++r) threads.emplace_back(guarded, r);
  guarded(0);  // rank 0 runs on the calling thread
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
  if (first_abort) std::rethrow_exception(first_abort);
}

void CpuBackend::abort(const std::string& reason) noexcept {
  try {
    {
      const std::lock_guard lock(abort_mutex_);
      if (abort_reason_.empty()) abort_reason_ = reason;
    }
    aborted_ = true;
    for (auto& st : ranks_) {
      const std::lock_guard lock(st->mutex);
      st->cv.notify_all();
    }
  } catch (...) {
    aborted_ = true;  // best effort: waiters also poll the flag on their timeout
  }
}

void CpuBackend::finish(std::int32_t rank, ir::OpId id, OpTiming t) {
  auto& st = state(rank);
  {
    const std::lock_guard lock(st.mutex);
    st.timings.at(id) = t;
    st.done.at(id) = 1;
  }
  ++progress_;
  st.cv.notify_all();
}

template <class F>
void CpuBackend::run_compute(std::int32_t rank, ir::OpId id, F&& kernel) {
  const Time start = now();
  ++busy_;
  struct Idle {
    std::atomic<std::int32_t>& busy;
    ~Idle() { --busy; }
  } idle{busy_};
  // Kernels report what is wrong; say which op of which rank it was.
  const auto where = [&] { return fmt::format("rank {} {}", rank, describe_op(schedule().ranks[idx(rank)].ops.at(id))); };
  try {
    kernel();
  } catch (const ValidationError& e) {
    throw ValidationError(fmt::format("{}: {}", where(), e.what()));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", where(), e.what()));
  }
  finish(rank, id, OpTiming{start, now()});
}

namespace {
cpu::View view_of(const ir::Schedule& s, std::int32_t rank, ir::BufferId id, std::span<float> data) {
  return cpu::View{&s.ranks[idx(rank)].buffers[id], data};
}
}  // namespace

void CpuBackend::attend(std::int32_t rank, ir::OpId id, const ir::Attend& op) {
  run_compute(rank, id, [&] {
    const auto& s = schedule();
    cpu::attend(s, op, view_of(s, rank, op.q.buffer, mutable_buffer(rank, op.q.buffer)),
                view_of(s, rank, op.kv.buffer, mutable_buffer(rank, op.kv.buffer)),
                view_of(s, rank, op.out, mutable_buffer(rank, op.out)),
                view_of(s, rank, op.lse, mutable_buffer(rank, op.lse)));
  });
}

void CpuBackend::merge_kernel(std::int32_t rank, const ir::Merge& op) {
  const auto& s = schedule();
  cpu::merge(s, op, view_of(s, rank, op.out, mutable_buffer(rank, op.out)),
             view_of(s, rank, op.lse, mutable_buffer(rank, op.lse)),
             view_of(s, rank, op.partial_out, mutable_buffer(rank, op.partial_out)),
             view_of(s, rank, op.partial_lse, mutable_buffer(rank, op.partial_lse)));
}

void CpuBackend::merge(std::int32_t rank, ir::OpId id, const ir::Merge& op) {
  run_compute(rank, id, [&] { merge_kernel(rank, op); });
}

std::span<float> CpuBackend::byte_slice(std::int32_t rank, const ir::ByteSlice& s, const char* what) const {
  const auto& prog = schedule().ranks[idx(rank)];
  if (s.buffer >= prog.buffers.size()) {
    throw ValidationError(fmt::format("{} buffer {} does not exist (rank {} has {})", what, s.buffer, rank,
                                      prog.buffers.size()));
  }
  const auto& meta = prog.buffers[s.buffer];
  const auto eb = ir::element_bytes(meta.dtype);
  if (s.offset.value < 0 || s.bytes.value < 0 || s.offset.value % eb != 0 || s.bytes.value % eb != 0 ||
      s.offset.value + s.bytes.value > meta.bytes.value) {
    throw ValidationError(fmt::format("{} bytes [{}, {}) are not whole {}-byte elements inside buffer '{}' of {} bytes",
                                      what, s.offset.value, s.offset.value + s.bytes.value, eb, meta.name,
                                      meta.bytes.value));
  }
  auto& data = ranks_[idx(rank)]->buffers[s.buffer];
  return std::span<float>(data).subspan(idx(s.offset.value / eb), idx(s.bytes.value / eb));
}

void CpuBackend::copy(std::int32_t rank, ir::OpId id, const ir::Copy& op) {
  run_compute(rank, id, [&] {
    const auto src = byte_slice(rank, op.src, "copy source");
    const auto dst = byte_slice(rank, op.dst, "copy destination");
    if (src.size() != dst.size()) {
      throw ValidationError(fmt::format("copy of {} elements into {} (source and destination dtypes differ)",
                                        src.size(), dst.size()));
    }
    std::memmove(dst.data(), src.data(), src.size() * sizeof(float));
  });
}

void CpuBackend::reduce(std::int32_t rank, ir::OpId id, const ir::Reduce& op) {
  run_compute(rank, id, [&] {
    const auto& prog = schedule().ranks[idx(rank)];
    for (const auto* sl : {&op.src, &op.dst}) {
      if (sl->buffer < prog.buffers.size() && prog.buffers[sl->buffer].dtype != op.dtype) {
        throw ValidationError(fmt::format("reduce of {} elements on buffer '{}' holding {}-byte elements",
                                          ir::element_bytes(op.dtype), prog.buffers[sl->buffer].name,
                                          ir::element_bytes(prog.buffers[sl->buffer].dtype)));
      }
    }
    const auto src = byte_slice(rank, op.src, "reduce source");
    const auto dst = byte_slice(rank, op.dst, "reduce destination");
    if (src.size() != dst.size()) throw ValidationError("reduce source and destination differ in length");
    for (std::size_t i = 0; i < src.size(); ++i) dst[i] += src[i];
  });
}

void CpuBackend::attend_grad(std::int32_t rank, ir::OpId id, const ir::AttendGrad& /*op*/) {
  throw Error(fmt::format("rank {} {}: attend_grad is not supported by the cpu backend yet (run the forward pass)",
                          rank, describe_op(schedule().ranks[idx(rank)].ops.at(id))));
}

void CpuBackend::gemm(std::int32_t rank, ir::OpId id, const ir::Gemm& /*op*/) {
  throw Error(fmt::format("rank {} {}: gemm is not supported by the cpu backend yet", rank,
                          describe_op(schedule().ranks[idx(rank)].ops.at(id))));
}

void CpuBackend::post_send(std::int32_t rank, ir::OpId id, const ir::Send& op) {
  post(rank, id, op.peer, op.data, op.tag, true);
}

void CpuBackend::post_recv(std::int32_t rank, ir::OpId id, const ir::Recv& op) {
  post(rank, id, op.peer, op.data, op.tag, false);
}

void CpuBackend::post(std::int32_t rank, ir::OpId id, std::int32_t peer, const ir::ByteSlice& data, std::uint32_t tag,
                      bool is_send) {
  const auto P = static_cast<std::int32_t>(ranks_.size());
  const auto& desc = schedule().ranks[idx(rank)].ops.at(id);
  if (peer < 0 || peer >= P) {
    throw ValidationError(fmt::format("rank {} {}: peer {} does not exist", rank, describe_op(desc), peer));
  }
  Posted mine{rank, id, {}, now()};
  try {
    mine.data = byte_slice(rank, data, is_send ? "send" : "recv");
  } catch (const Error& e) {
    throw ValidationError(fmt::format("rank {} {}: {}", rank, describe_op(desc), e.what()));
  }
  // A channel is (source, destination, tag); the side that arrives second finds the first waiting.
  const ChannelKey key = is_send ? ChannelKey{rank, peer, tag} : ChannelKey{peer, rank, tag};
  auto& mine_queue = is_send ? sends_ : recvs_;
  auto& their_queue = is_send ? recvs_ : sends_;
  std::optional<Posted> match;
  {
    const std::lock_guard lock(channels_mutex_);
    auto& waiting = their_queue[key];
    if (waiting.empty()) {
      mine_queue[key].push_back(mine);
    } else {
      match = waiting.front();
      waiting.pop_front();
    }
  }
  if (!match) return;
  if (is_send) {
    transfer(mine, *match);
  } else {
    transfer(*match, mine);
  }
}

void CpuBackend::transfer(const Posted& send, const Posted& recv) {
  // Runs on whichever thread posted second; the receiver does not touch its slice until the recv is
  // done and the sender's slice is read-only while the send is in flight (the schedule's deps).
  if (send.data.size() != recv.data.size()) {
    const auto& s = schedule();
    throw ValidationError(fmt::format(
        "rank {} {} moves {} elements but its match, rank {} {}, expects {}", send.rank,
        describe_op(s.ranks[idx(send.rank)].ops[send.op]), send.data.size(), recv.rank,
        describe_op(s.ranks[idx(recv.rank)].ops[recv.op]), recv.data.size()));
  }
  // Each side's record runs from when it was issued (waiting for the peer included, as a CUDA event
  // around an NCCL send/recv measures it, and as the simulator predicts it) to the end of the copy.
  std::copy(send.data.begin(), send.data.end(), recv.data.begin());
  const Time end = now();
  finish(send.rank, send.op, OpTiming{send.posted, end});
  finish(recv.rank, recv.op, OpTiming{recv.posted, end});
}

bool CpuBackend::is_done(std::int32_t rank, ir::OpId id) {
  auto& st = state(rank);
  const std::lock_guard lock(st.mutex);
  return st.done.at(id) != 0;
}

bool CpuBackend::wait_any(std::int32_t rank, std::span<const ir::OpId> ids, Time timeout) {
  auto& st = state(rank);
  const auto slice = std::chrono::nanoseconds(timeout.value / 1000);
  auto deadline = std::chrono::steady_clock::now() + slice;
  std::uint64_t seen = progress_.load();
  std::unique_lock lock(st.mutex);
  const auto ready = [&] {
    if (aborted_) return true;
    return std::any_of(ids.begin(), ids.end(), [&](ir::OpId id) { return st.done.at(id) != 0; });
  };
  for (;;) {
    const bool ok = st.cv.wait_until(lock, deadline, ready);
    if (aborted_) {
      const std::lock_guard reason_lock(abort_mutex_);
      throw RunAborted(fmt::format("rank {} stopped: {}", rank, abort_reason_));
    }
    if (ok) return true;
    // A peer that is still computing (a long attention on a big block) or any op finishing anywhere
    // is progress: only a whole timeout with every rank idle or blocked means a peer never arrives.
    const std::uint64_t now_seen = progress_.load();
    if (busy_.load() == 0 && now_seen == seen) return false;
    seen = now_seen;
    deadline = std::chrono::steady_clock::now() + slice;
  }
}

OpTiming CpuBackend::timing(std::int32_t rank, ir::OpId id) const {
  auto& st = state(rank);
  const std::lock_guard lock(st.mutex);
  return st.timings.at(id);
}

}  // namespace ringlab::runtime
