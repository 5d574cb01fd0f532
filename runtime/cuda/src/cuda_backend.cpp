// The CUDA/NCCL backend (docs/cuda.md). Per rank: one CUDA stream per IR stream, three events per op
// (posted, begin, end), device buffers in the token-major layouts of docs/ir.md. IR dependencies
// become cudaStreamWaitEvent on the end events of the ops depended on; a group of sends/recvs becomes
// ncclGroupStart / ncclSend / ncclRecv / ncclGroupEnd on non-blocking communicators (local_gpus, mpi)
// or a rendezvous of device-to-device copies (single_gpu, since NCCL refuses two ranks on one GPU).
#include "ringlab/runtime/cuda/cuda_backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <variant>

#include "check.hpp"
#include "kernels.cuh"
#include "mpi_shim.hpp"
#include "ringlab/runtime/cuda/device_info.hpp"

namespace ringlab::runtime::cuda {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kStreams = 4;

std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

kern::ElemType elem(ir::DType t) {
  switch (t) {
    case ir::DType::bf16: return kern::ElemType::bf16;
    case ir::DType::fp16: return kern::ElemType::fp16;
    case ir::DType::fp32: return kern::ElemType::fp32;
  }
  return kern::ElemType::fp32;
}

std::string what_of(const std::string& call, const std::string& what, const std::string& file, int line,
                    std::int32_t rank, const std::string& op) {
  std::string s = fmt::format("{} failed: {} ({}:{}", call, what, file, line);
  if (rank >= 0) s += fmt::format(", rank {}", rank);
  if (!op.empty()) s += fmt::format(", {}", op);
  return s + ")";
}

/// Ends of the launch units (docs/ir.md rule 2): op i is the last of its unit when the next op of its
/// stream does not share its nonzero group.
std::vector<std::uint8_t> unit_last(const ir::RankProgram& prog) {
  std::vector<std::uint8_t> last(prog.ops.size(), 1);
  std::array<std::int64_t, kStreams> prev{-1, -1, -1, -1};
  for (std::size_t i = 0; i < prog.ops.size(); ++i) {
    const auto s = static_cast<std::size_t>(prog.ops[i].stream) % kStreams;
    if (prev[s] >= 0) {
      const auto& p = prog.ops[idx(prev[s])];
      last[idx(prev[s])] = (p.group != 0 && p.group == prog.ops[i].group) ? 0 : 1;
    }
    prev[s] = static_cast<std::int64_t>(i);
  }
  return last;
}

}  // namespace

CudaError::CudaError(std::string call, std::string what, std::string file, int line, std::int32_t rank, std::string op)
    : Error(what_of(call, what, file, line, rank, op)),
      call_(std::move(call)),
      file_(std::move(file)),
      line_(line),
      rank_(rank),
      op_(std::move(op)) {}

const char* launch_mode_name(LaunchMode mode) noexcept {
  switch (mode) {
    case LaunchMode::single_gpu: return "single_gpu";
    case LaunchMode::local_gpus: return "local_gpus";
    case LaunchMode::mpi: return "mpi";
  }
  return "?";
}

bool mpi_compiled_in() noexcept { return mpi::compiled_in(); }

int visible_devices() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

struct CudaBackend::Impl {
  struct OpState {
    cudaEvent_t posted = nullptr;  // the stream reached the op (a transfer's side is posted)
    cudaEvent_t begin = nullptr;   // timing start
    cudaEvent_t end = nullptr;     // finished
    const cudaEvent_t* start_alias = nullptr;  // a send's start is its matching recv's begin
    std::atomic<bool> recorded{false};         // `end` has been recorded (an unrecorded event reads done)
  };
  struct Rank {
    int device = 0;
    int sm = 0;
    std::array<cudaStream_t, kStreams> streams{};
    std::vector<void*> buffers;
    std::unique_ptr<OpState[]> ops;
    std::vector<std::uint8_t> last_of_unit;
    std::map<ir::TokenSetId, std::int32_t*> positions;  // device copies of the token sets it uses
    ncclComm_t comm = nullptr;
    std::vector<ir::OpId> unit;  // members of the NCCL group being posted
    cudaEvent_t origin = nullptr;
    float* scratch = nullptr;  // one float for the clock-alignment all-reduce
    float* staging = nullptr;  // fp32 scratch for write_buffer / read_buffer conversions
    std::size_t staging_elems = 0;
  };
  struct Posted {
    std::int32_t rank = 0;
    ir::OpId id = 0;
    char* ptr = nullptr;
    std::int64_t bytes = 0;
  };
  using ChannelKey = std::tuple<std::int32_t, std::int32_t, std::uint32_t>;  // source, destination, tag

  CudaBackendOptions options;
  const ir::Schedule* schedule = nullptr;
  std::vector<std::unique_ptr<Rank>> ranks;  // index = rank; null for ranks another process drives
  std::int32_t world = 0;
  std::int32_t me = -1;  // MPI rank, -1 otherwise
  bool mpi_inited = false;
  std::vector<std::uint8_t> k_sorted;  // per token set: positions strictly increase
  std::mutex channels_mutex;
  std::map<ChannelKey, std::deque<Posted>> sends, recvs;
  mutable std::mutex staging_mutex;
  std::atomic<bool> aborted{false};
  std::mutex abort_mutex;
  std::string abort_reason;
  std::atomic<std::int64_t> tensor_core_attends{0}, simt_attends{0};

  [[nodiscard]] std::string describe(std::int32_t rank, ir::OpId id) const {
    if (schedule == nullptr || rank < 0 || idx(rank) >= schedule->ranks.size()) return {};
    const auto& ops = schedule->ranks[idx(rank)].ops;
    return id < ops.size() ? runtime::describe_op(ops[id]) : fmt::format("op {}", id);
  }

  [[nodiscard]] Rank& rank_state(std::int32_t r) const {
    if (r < 0 || idx(r) >= ranks.size() || !ranks[idx(r)]) {
      throw Error(fmt::format("the cuda backend does not drive rank {} (in this process)", r));
    }
    return *ranks[idx(r)];
  }
  [[nodiscard]] const ir::Buffer& buffer_meta(std::int32_t r, ir::BufferId b) const {
    const auto& bufs = schedule->ranks[idx(r)].buffers;
    if (b >= bufs.size()) throw ValidationError(fmt::format("rank {}: buffer {} does not exist", r, b));
    return bufs[b];
  }
  [[nodiscard]] char* buffer_ptr(std::int32_t r, ir::BufferId b) const {
    (void)buffer_meta(r, b);
    return static_cast<char*>(rank_state(r).buffers[b]);
  }
  [[nodiscard]] char* byte_slice(std::int32_t r, const ir::ByteSlice& s, const char* what) const {
    const auto& meta = buffer_meta(r, s.buffer);
    if (s.offset.value < 0 || s.bytes.value < 0 || s.offset.value + s.bytes.value > meta.bytes.value) {
      throw ValidationError(fmt::format("rank {}: {} bytes [{}, {}) exceed buffer '{}' of {} bytes", r, what,
                                        s.offset.value, s.offset.value + s.bytes.value, meta.name, meta.bytes.value));
    }
    return buffer_ptr(r, s.buffer) + s.offset.value;
  }
  [[nodiscard]] cudaStream_t stream_of(std::int32_t r, ir::OpId id) const {
    const auto s = static_cast<std::size_t>(schedule->ranks[idx(r)].ops[id].stream) % kStreams;
    return rank_state(r).streams[s];
  }

  // ---- setup ------------------------------------------------------------------------------------

  void check_schedule(const ir::Schedule& s) const {
    const auto& w = s.workload;
    if (w.dilation != 1) throw Error("the cuda backend does not implement dilated attention yet (workload.dilation)");
    if (w.seq_len >= std::numeric_limits<std::int32_t>::max()) {
      throw Error(fmt::format("the cuda backend holds positions as int32; seq_len {} is too long", w.seq_len));
    }
    if (w.head_dim > 256) throw Error(fmt::format("the cuda backend supports head_dim <= 256, got {}", w.head_dim));
    if (w.kv_heads < 1 || w.q_heads % w.kv_heads != 0) {
      throw ValidationError(fmt::format("kv_heads {} must divide q_heads {}", w.kv_heads, w.q_heads));
    }
    if (w.window > std::numeric_limits<std::int32_t>::max()) throw Error("workload.window too large");
  }

  void make_ncclcomms_local(const std::vector<int>& devs) {
    ncclUniqueId id;
    NCCL_CHECK(ncclGetUniqueId(&id));
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;  // non-blocking: nothing in NCCL may hang the host; we poll with a timeout
    // ncclCommInitAll cannot take a config; this grouped init is its non-blocking equivalent.
    NCCL_CHECK(ncclGroupStart());
    for (std::size_t r = 0; r < devs.size(); ++r) {
      CUDA_CHECK(cudaSetDevice(devs[r]));
      NCCL_CHECK_AT(ncclCommInitRankConfig(&ranks[r]->comm, world, id, static_cast<int>(r), &cfg),
                    static_cast<std::int32_t>(r), "communicator init");
    }
    NCCL_CHECK(ncclGroupEnd());
    for (std::size_t r = 0; r < devs.size(); ++r) wait_comm(static_cast<std::int32_t>(r), "communicator init");
  }

  void make_ncclcomm_mpi(int device) {
    ncclUniqueId id;
    if (me == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    mpi::broadcast(&id, sizeof(id), 0);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    CUDA_CHECK(cudaSetDevice(device));
    NCCL_CHECK_AT(ncclCommInitRankConfig(&ranks[idx(me)]->comm, world, id, me, &cfg), me, "communicator init");
    wait_comm(me, "communicator init");
  }

  /// Polls a non-blocking communicator until its pending call completes; aborts it on error or timeout.
  void wait_comm(std::int32_t r, const std::string& what) {
    Rank& st = rank_state(r);
    const auto deadline = Clock::now() + std::chrono::nanoseconds(options.nccl_timeout.value / 1000);
    for (;;) {
      ncclResult_t state = ncclSuccess;
      NCCL_CHECK_AT(ncclCommGetAsyncError(st.comm, &state), r, what);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) {
        const std::string msg = fmt::format("{} ({})", ncclGetErrorString(state), ncclGetLastError(st.comm));
        abort_comm(st);
        throw CudaError("ncclCommGetAsyncError", msg, __FILE__, __LINE__, r, what);
      }
      if (aborted.load()) throw RunAborted(reason());
      if (Clock::now() > deadline) {
        abort_comm(st);
        throw RunTimeout(fmt::format(
            "rank {}: NCCL stayed in progress for {} s during {}: a peer never arrived; the communicator was "
            "aborted (ncclCommAbort)",
            r, to_seconds(options.nccl_timeout), what));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  /// Polls `ev` until it completes; RunAborted after abort(), RunTimeout (aborting NCCL) after nccl_timeout.
  void wait_event(std::int32_t r, cudaEvent_t ev, const char* what) {
    Rank& st = rank_state(r);
    const auto deadline = Clock::now() + std::chrono::nanoseconds(options.nccl_timeout.value / 1000);
    for (;;) {
      const cudaError_t e = cudaEventQuery(ev);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) throw CudaError("cudaEventQuery", cudaGetErrorString(e), __FILE__, __LINE__, r, what);
      if (aborted.load()) {
        abort_comm(st);
        throw RunAborted(reason());
      }
      if (Clock::now() > deadline) {
        abort_comm(st);
        throw RunTimeout(fmt::format("rank {}: {} did not finish within {} s (a peer never arrived?); communicator aborted",
                                     r, what, to_seconds(options.nccl_timeout)));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  static void abort_comm(Rank& st) noexcept {
    if (st.comm != nullptr) {
      (void)ncclCommAbort(st.comm);
      st.comm = nullptr;
    }
  }

  void allocate(const ir::Schedule& s) {
    check_schedule(s);
    release();
    schedule = &s;
    aborted = false;
    const auto P = static_cast<std::int32_t>(s.ranks.size());
    const int ndev = visible_devices();
    if (ndev == 0) throw Error("the cuda backend found no CUDA device (cudaGetDeviceCount returned 0 or failed)");
    std::vector<int> devs(idx(P), options.device);
    world = P;
    switch (options.mode) {
      case LaunchMode::single_gpu:
        if (options.device < 0 || options.device >= ndev) {
          throw Error(fmt::format("device {} does not exist ({} visible)", options.device, ndev));
        }
        break;
      case LaunchMode::local_gpus: {
        for (std::int32_t r = 0; r < P; ++r) {
          devs[idx(r)] = options.devices.empty() ? r : options.devices[idx(r) % options.devices.size()];
          if (devs[idx(r)] < 0 || devs[idx(r)] >= ndev) {
            throw Error(fmt::format(
                "rank {} needs GPU {} but only {} are visible: local_gpus runs one rank per GPU (NCCL refuses two "
                "ranks on one GPU); use --cuda-mode single_gpu to put every rank on one GPU",
                r, devs[idx(r)], ndev));
          }
        }
        auto sorted = devs;
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
          throw Error("local_gpus: two ranks on one GPU (NCCL refuses that); use single_gpu mode");
        }
        break;
      }
      case LaunchMode::mpi: {
        if (!mpi_inited) {
          mpi::init();
          mpi_inited = true;
        }
        me = mpi::world_rank();
        world = mpi::world_size();
        if (world != P) {
          throw Error(fmt::format("the schedule has {} ranks but MPI started {} processes (mpirun -np {})", P, world, P));
        }
        const int local = mpi::local_rank();
        devs[idx(me)] = options.devices.empty() ? local % ndev : options.devices[idx(local) % options.devices.size()];
        break;
      }
    }
    // Token-set facts the kernels use.
    k_sorted.assign(s.token_sets.size(), 1);
    for (std::size_t t = 0; t < s.token_sets.size(); ++t) {
      std::int64_t prev = std::numeric_limits<std::int64_t>::min();
      for (const auto& c : s.token_sets[t].chunks)
        for (std::int64_t i = 0; i < c.length; ++i) {
          const std::int64_t p = c.start + i * c.stride;
          if (p <= prev) k_sorted[t] = 0;
          prev = p;
        }
    }
    // Memory check per device before allocating anything.
    std::map<int, std::int64_t> need;
    for (std::int32_t r = 0; r < P; ++r) {
      if (options.mode == LaunchMode::mpi && r != me) continue;
      for (const auto& b : s.ranks[idx(r)].buffers) need[devs[idx(r)]] += b.bytes.value;
    }
    for (const auto& [dev, bytes] : need) {
      std::size_t free_b = 0, total_b = 0;
      CUDA_CHECK(cudaSetDevice(dev));
      CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
      if (static_cast<double>(bytes) > 0.95 * static_cast<double>(free_b)) {
        throw Error(fmt::format(
            "the schedule's buffers need {:.2f} GiB on GPU {} but only {:.2f} GiB are free; lower workload.seq_len "
            "(--set workload.seq_len=...) or spread ranks over more GPUs",
            static_cast<double>(bytes) / 1073741824.0, dev, static_cast<double>(free_b) / 1073741824.0));
      }
    }
    ranks.clear();
    ranks.resize(idx(P));
    for (std::int32_t r = 0; r < P; ++r) {
      if (options.mode == LaunchMode::mpi && r != me) continue;
      auto st = std::make_unique<Rank>();
      st->device = devs[idx(r)];
      CUDA_CHECK(cudaSetDevice(st->device));
      cudaDeviceProp prop{};
      CUDA_CHECK(cudaGetDeviceProperties(&prop, st->device));
      st->sm = prop.major * 10 + prop.minor;
      for (auto& stream : st->streams) CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      const auto& prog = s.ranks[idx(r)];
      for (const auto& b : prog.buffers) {
        void* p = nullptr;
        CUDA_CHECK(cudaMalloc(&p, static_cast<std::size_t>(std::max<std::int64_t>(b.bytes.value, 1))));
        st->buffers.push_back(p);
        const bool lse = b.role == ir::BufferRole::lse || b.role == ir::BufferRole::partial_lse;
        if (lse && b.dtype == ir::DType::fp32) {
          CUDA_CHECK(kern::launch_fill_f32(static_cast<float*>(p), b.bytes.value / 4,
                                           -std::numeric_limits<float>::infinity(), st->streams[0]));
        } else {
          CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<std::size_t>(b.bytes.value), st->streams[0]));
        }
      }
      st->ops = std::make_unique<OpState[]>(prog.ops.size());
      for (std::size_t i = 0; i < prog.ops.size(); ++i) {
        CUDA_CHECK(cudaEventCreate(&st->ops[i].posted));
        CUDA_CHECK(cudaEventCreate(&st->ops[i].begin));
        CUDA_CHECK(cudaEventCreate(&st->ops[i].end));
      }
      st->last_of_unit = unit_last(prog);
      for (const auto& op : prog.ops) {
        if (const auto* a = std::get_if<ir::Attend>(&op.kind)) {
          for (const auto ts : {a->q.positions, a->kv.positions}) {
            if (ts >= s.token_sets.size()) throw ValidationError(fmt::format("rank {}: token set {} does not exist", r, ts));
            if (st->positions.count(ts) != 0) continue;
            std::vector<std::int32_t> host;
            for (const auto& c : s.token_sets[ts].chunks)
              for (std::int64_t i = 0; i < c.length; ++i) host.push_back(static_cast<std::int32_t>(c.start + i * c.stride));
            std::int32_t* d = nullptr;
            CUDA_CHECK(cudaMalloc(&d, std::max<std::size_t>(host.size(), 1) * sizeof(std::int32_t)));
            CUDA_CHECK(cudaMemcpy(d, host.data(), host.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice));
            st->positions[ts] = d;
          }
        }
      }
      CUDA_CHECK(cudaEventCreate(&st->origin));
      CUDA_CHECK(cudaMalloc(&st->scratch, sizeof(float)));
      CUDA_CHECK(cudaStreamSynchronize(st->streams[0]));
      ranks[idx(r)] = std::move(st);
    }
    if (options.mode == LaunchMode::local_gpus) make_ncclcomms_local(devs);
    if (options.mode == LaunchMode::mpi) make_ncclcomm_mpi(devs[idx(me)]);
  }

  void release() noexcept {
    for (std::size_t r = 0; r < ranks.size(); ++r) {
      auto& st = ranks[r];
      if (!st) continue;
      (void)cudaSetDevice(st->device);
      if (st->comm != nullptr) {
        if (aborted.load()) {
          (void)ncclCommAbort(st->comm);
        } else {
          (void)ncclCommDestroy(st->comm);
        }
        st->comm = nullptr;
      }
      for (auto s : st->streams)
        if (s != nullptr) (void)cudaStreamSynchronize(s);
      for (auto* p : st->buffers) (void)cudaFree(p);
      for (auto& [ts, p] : st->positions) (void)cudaFree(p);
      if (st->staging != nullptr) (void)cudaFree(st->staging);
      if (st->scratch != nullptr) (void)cudaFree(st->scratch);
      const auto n = schedule != nullptr ? schedule->ranks[r].ops.size() : 0;
      for (std::size_t i = 0; st->ops && i < n; ++i) {
        (void)cudaEventDestroy(st->ops[i].posted);
        (void)cudaEventDestroy(st->ops[i].begin);
        (void)cudaEventDestroy(st->ops[i].end);
      }
      if (st->origin != nullptr) (void)cudaEventDestroy(st->origin);
      for (auto s : st->streams)
        if (s != nullptr) (void)cudaStreamDestroy(s);
    }
    ranks.clear();
    sends.clear();
    recvs.clear();
  }

  // ---- host <-> device ----------------------------------------------------------------------------

  float* staging_for(Rank& st, std::size_t n) const {
    if (st.staging_elems < n) {
      if (st.staging != nullptr) CUDA_CHECK(cudaFree(st.staging));
      st.staging = nullptr;
      CUDA_CHECK(cudaMalloc(&st.staging, n * sizeof(float)));
      st.staging_elems = n;
    }
    return st.staging;
  }

  void transfer_f32(std::int32_t r, ir::BufferId b, std::size_t offset, float* host, std::size_t n, bool write) const {
    const auto& meta = buffer_meta(r, b);
    const auto e = ir::element_bytes(meta.dtype);
    if (static_cast<std::int64_t>(offset + n) * e > meta.bytes.value) {
      throw Error(fmt::format("rank {}: elements [{}, {}) exceed buffer '{}' of {} bytes", r, offset, offset + n,
                              meta.name, meta.bytes.value));
    }
    if (n == 0) return;
    const std::lock_guard lock(staging_mutex);
    Rank& st = rank_state(r);
    CUDA_CHECK(cudaSetDevice(st.device));
    char* dev = buffer_ptr(r, b) + static_cast<std::int64_t>(offset) * e;
    const auto t = elem(meta.dtype);
    const auto bytes = n * sizeof(float);
    if (t == kern::ElemType::fp32) {
      CUDA_CHECK(cudaMemcpy(write ? static_cast<void*>(dev) : static_cast<void*>(host),
                            write ? static_cast<const void*>(host) : static_cast<const void*>(dev), bytes,
                            write ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost));
      return;
    }
    float* tmp = staging_for(st, n);
    if (write) {
      CUDA_CHECK(cudaMemcpy(tmp, host, bytes, cudaMemcpyHostToDevice));
      CUDA_CHECK(kern::launch_from_f32(tmp, dev, t, static_cast<std::int64_t>(n), nullptr));
      CUDA_CHECK(cudaDeviceSynchronize());
    } else {
      CUDA_CHECK(kern::launch_to_f32(dev, t, tmp, static_cast<std::int64_t>(n), nullptr));
      CUDA_CHECK(cudaMemcpy(host, tmp, bytes, cudaMemcpyDeviceToHost));
    }
  }

  // ---- launching ----------------------------------------------------------------------------------

  /// Makes `stream` wait for the ops `id` depends on and records its posted event.
  OpState& enter(std::int32_t r, ir::OpId id, cudaStream_t stream) {
    Rank& st = rank_state(r);
    const auto& op = schedule->ranks[idx(r)].ops[id];
    for (const auto d : op.deps) {
      if (d >= id) throw ValidationError(fmt::format("rank {} {}: depends on a later op", r, describe(r, id)));
      if (!st.ops[d].recorded.load()) {
        throw ValidationError(fmt::format("rank {} {}: launched before op {} it depends on", r, describe(r, id), d));
      }
      CUDA_CHECK_OP(cudaStreamWaitEvent(stream, st.ops[d].end, 0), r, id);
    }
    OpState& o = st.ops[id];
    o.start_alias = nullptr;
    o.recorded = false;
    CUDA_CHECK_OP(cudaEventRecord(o.posted, stream), r, id);
    return o;
  }

  template <class F>
  void compute(std::int32_t r, ir::OpId id, F&& launch) {
    if (aborted.load()) throw RunAborted(reason());
    Rank& st = rank_state(r);
    const cudaStream_t stream = stream_of(r, id);
    OpState& o = enter(r, id, stream);
    CUDA_CHECK_OP(cudaEventRecord(o.begin, stream), r, id);
    launch(st, stream);
    CUDA_CHECK_OP(cudaEventRecord(o.end, stream), r, id);
    o.recorded = true;
  }

  void attend(std::int32_t r, ir::OpId id, const ir::Attend& a) {
    const auto& w = schedule->workload;
    compute(r, id, [&](Rank& st, cudaStream_t stream) {
      if (a.mask == ir::Mask::skip || a.q.tokens == 0 || a.kv.tokens == 0) return;  // nothing attended
      const auto& qb = buffer_meta(r, a.q.buffer);
      const auto& kb = buffer_meta(r, a.kv.buffer);
      const auto& ob = buffer_meta(r, a.out);
      const auto& lb = buffer_meta(r, a.lse);
      const std::int64_t B = w.batch, H = w.q_heads, G = w.kv_heads, d = w.head_dim;
      auto rows_fit = [&](const ir::Buffer& b, std::int64_t off, std::int64_t n, const char* what) {
        if (off < 0 || n < 0 || off + n > b.tokens) {
          throw ValidationError(fmt::format("rank {} {}: {} rows [{}, {}) exceed buffer '{}' of {} token rows", r,
                                            describe(r, id), what, off, off + n, b.name, b.tokens));
        }
      };
      rows_fit(qb, a.q.token_offset, a.q.tokens, "q");
      rows_fit(kb, a.kv.token_offset, a.kv.tokens, "kv");
      rows_fit(ob, a.out_offset, a.q.tokens, "out");
      rows_fit(lb, a.out_offset, a.q.tokens, "lse");
      if (a.head_begin < 0 || a.heads < 0 || a.head_begin + a.heads > H) {
        throw ValidationError(fmt::format("rank {} {}: heads out of range", r, describe(r, id)));
      }
      for (const auto* ts : {&a.q, &a.kv}) {
        if (ts->positions >= schedule->token_sets.size() ||
            ir::token_count(schedule->token_sets[ts->positions]) != ts->tokens) {
          throw ValidationError(fmt::format("rank {} {}: a token slice does not match its token set", r, describe(r, id)));
        }
      }
      if (qb.dtype != w.dtype || kb.dtype != w.dtype || ob.dtype != w.dtype || lb.dtype != ir::DType::fp32) {
        throw ValidationError(fmt::format("rank {} {}: buffer dtypes differ from the workload's", r, describe(r, id)));
      }
      kern::AttendParams p;
      const std::int64_t k_tok = B * 2 * G * d;
      p.q = buffer_ptr(r, a.q.buffer) + a.q.token_offset * B * H * d * ir::element_bytes(w.dtype);
      p.k = buffer_ptr(r, a.kv.buffer) + a.kv.token_offset * k_tok * ir::element_bytes(w.dtype);
      p.v = static_cast<const char*>(p.k) + G * d * ir::element_bytes(w.dtype);
      p.o = buffer_ptr(r, a.out) + a.out_offset * B * H * d * ir::element_bytes(w.dtype);
      p.lse = reinterpret_cast<float*>(buffer_ptr(r, a.lse)) + a.out_offset * B * H;
      p.q_tok = B * H * d;
      p.q_batch = H * d;
      p.k_tok = k_tok;
      p.k_batch = 2 * G * d;
      p.o_tok = B * H * d;
      p.o_batch = H * d;
      p.l_tok = B * H;
      p.l_batch = H;
      p.l_head = 1;
      p.q_pos = st.positions.at(a.q.positions);
      p.k_pos = st.positions.at(a.kv.positions);
      p.tq = static_cast<int>(a.q.tokens);
      p.tk = static_cast<int>(a.kv.tokens);
      p.batch = static_cast<int>(B);
      p.head_begin = a.head_begin;
      p.heads = a.heads;
      p.group = static_cast<int>(H / G);
      p.d = static_cast<int>(d);
      p.masked = a.mask == ir::Mask::partial ? 1 : 0;
      p.causal = w.causal ? 1 : 0;
      p.window = static_cast<int>(w.window);
      p.k_sorted = k_sorted[a.kv.positions];
      p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
      kern::AttendPath path = kern::AttendPath::simt;
      CUDA_CHECK_OP(kern::launch_attend(p, elem(w.dtype), st.sm, options.force_simt, stream, &path), r, id);
      (path == kern::AttendPath::tensor_core ? tensor_core_attends : simt_attends).fetch_add(1);
    });
  }

  void merge(std::int32_t r, ir::OpId id, const ir::Merge& m) {
    const auto& w = schedule->workload;
    compute(r, id, [&](Rank&, cudaStream_t stream) {
      const std::int64_t B = w.batch, H = w.q_heads, d = w.head_dim;
      for (const auto& [b, off] : {std::pair{m.out, m.offset}, std::pair{m.lse, m.offset},
                                   std::pair{m.partial_out, m.partial_offset}, std::pair{m.partial_lse, m.partial_offset}}) {
        const auto& meta = buffer_meta(r, b);
        if (off < 0 || m.rows < 0 || off + m.rows > meta.tokens) {
          throw ValidationError(fmt::format("rank {} {}: rows [{}, {}) exceed buffer '{}' of {} token rows", r,
                                            describe(r, id), off, off + m.rows, meta.name, meta.tokens));
        }
      }
      if (m.head_begin < 0 || m.heads < 0 || m.head_begin + m.heads > H) {
        throw ValidationError(fmt::format("rank {} {}: heads out of range", r, describe(r, id)));
      }
      const auto e = ir::element_bytes(w.dtype);
      kern::MergeParams p;
      p.o = buffer_ptr(r, m.out) + m.offset * B * H * d * e;
      p.po = buffer_ptr(r, m.partial_out) + m.partial_offset * B * H * d * e;
      p.lse = reinterpret_cast<float*>(buffer_ptr(r, m.lse)) + m.offset * B * H;
      p.plse = reinterpret_cast<const float*>(buffer_ptr(r, m.partial_lse)) + m.partial_offset * B * H;
      p.o_tok = p.po_tok = B * H * d;
      p.o_batch = p.po_batch = H * d;
      p.l_tok = p.pl_tok = B * H;
      p.l_batch = p.pl_batch = H;
      p.l_head = p.pl_head = 1;
      p.rows = static_cast<int>(m.rows);
      p.batch = static_cast<int>(B);
      p.head_begin = m.head_begin;
      p.heads = m.heads;
      p.d = static_cast<int>(d);
      CUDA_CHECK_OP(kern::launch_merge(p, elem(w.dtype), stream), r, id);
    });
  }

  void copy(std::int32_t r, ir::OpId id, const ir::Copy& c) {
    compute(r, id, [&](Rank&, cudaStream_t stream) {
      if (c.src.bytes != c.dst.bytes) throw ValidationError(fmt::format("rank {} {}: copy of unequal sizes", r, describe(r, id)));
      char* dst = byte_slice(r, c.dst, "copy destination");
      const char* src = byte_slice(r, c.src, "copy source");
      CUDA_CHECK_OP(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(c.dst.bytes.value), cudaMemcpyDeviceToDevice, stream),
                    r, id);
    });
  }

  void reduce(std::int32_t r, ir::OpId id, const ir::Reduce& c) {
    compute(r, id, [&](Rank&, cudaStream_t stream) {
      if (c.src.bytes != c.dst.bytes) throw ValidationError(fmt::format("rank {} {}: reduce of unequal sizes", r, describe(r, id)));
      char* dst = byte_slice(r, c.dst, "reduce destination");
      const char* src = byte_slice(r, c.src, "reduce source");
      CUDA_CHECK_OP(kern::launch_reduce(src, dst, elem(c.dtype), c.dst.bytes.value / ir::element_bytes(c.dtype), stream), r, id);
    });
  }

  // ---- transfers ----------------------------------------------------------------------------------

  void post(std::int32_t r, ir::OpId id, bool is_send, std::int32_t peer, const ir::ByteSlice& data, std::uint32_t tag) {
    if (aborted.load()) throw RunAborted(reason());
    if (peer < 0 || peer >= world) throw ValidationError(fmt::format("rank {} {}: peer {} out of range", r, describe(r, id), peer));
    char* ptr = byte_slice(r, data, is_send ? "send" : "recv");
    const cudaStream_t stream = stream_of(r, id);
    Rank& st = rank_state(r);
    if (options.mode == LaunchMode::single_gpu) {
      OpState& o = enter(r, id, stream);
      CUDA_CHECK_OP(cudaEventRecord(o.begin, stream), r, id);
      const Posted me_posted{r, id, ptr, data.bytes.value};
      const std::lock_guard lock(channels_mutex);
      const ChannelKey key = is_send ? ChannelKey{r, peer, tag} : ChannelKey{peer, r, tag};
      auto& mine = is_send ? sends[key] : recvs[key];
      auto& theirs = is_send ? recvs[key] : sends[key];
      if (theirs.empty()) {
        mine.push_back(me_posted);
        return;
      }
      const Posted other = theirs.front();
      theirs.pop_front();
      match(is_send ? me_posted : other, is_send ? other : me_posted);
      return;
    }
    // NCCL: the first member of a unit opens the group, the last closes it and records every end
    // (the executor posts a unit's members back to back from this rank's thread).
    if (st.unit.empty()) NCCL_CHECK_OP(ncclGroupStart(), r, id);
    st.unit.push_back(id);
    OpState& o = enter(r, id, stream);
    CUDA_CHECK_OP(cudaEventRecord(o.begin, stream), r, id);
    if (is_send) {
      NCCL_CHECK_OP(ncclSend(ptr, static_cast<std::size_t>(data.bytes.value), ncclChar, peer, st.comm, stream), r, id);
    } else {
      NCCL_CHECK_OP(ncclRecv(ptr, static_cast<std::size_t>(data.bytes.value), ncclChar, peer, st.comm, stream), r, id);
    }
    if (st.last_of_unit[id] == 0) return;
    const auto members = std::move(st.unit);
    st.unit.clear();
    NCCL_CHECK_OP(ncclGroupEnd(), r, id);
    wait_comm(r, describe(r, id));
    for (const auto k : members) {
      CUDA_CHECK_OP(cudaEventRecord(st.ops[k].end, stream), r, k);
      st.ops[k].recorded = true;
    }
  }

  /// Single GPU: both sides are posted; copy on the receiver's stream once the sender's stream reached
  /// its send, then release the sender's stream. Called under channels_mutex.
  void match(const Posted& s, const Posted& rv) {
    if (s.bytes != rv.bytes) {
      throw ValidationError(fmt::format("rank {} {} sends {} bytes but rank {} {} receives {}", s.rank,
                                        describe(s.rank, s.id), s.bytes, rv.rank, describe(rv.rank, rv.id), rv.bytes));
    }
    Rank& ss = rank_state(s.rank);
    Rank& rs = rank_state(rv.rank);
    OpState& so = ss.ops[s.id];
    OpState& ro = rs.ops[rv.id];
    const cudaStream_t sst = stream_of(s.rank, s.id);
    const cudaStream_t rst = stream_of(rv.rank, rv.id);
    CUDA_CHECK_OP(cudaStreamWaitEvent(rst, so.posted, 0), rv.rank, rv.id);
    CUDA_CHECK_OP(cudaEventRecord(ro.begin, rst), rv.rank, rv.id);  // both sides posted: the transfer starts
    CUDA_CHECK_OP(cudaMemcpyAsync(rv.ptr, s.ptr, static_cast<std::size_t>(s.bytes), cudaMemcpyDeviceToDevice, rst),
                  rv.rank, rv.id);
    CUDA_CHECK_OP(cudaEventRecord(ro.end, rst), rv.rank, rv.id);
    CUDA_CHECK_OP(cudaStreamWaitEvent(sst, ro.end, 0), s.rank, s.id);
    CUDA_CHECK_OP(cudaEventRecord(so.end, sst), s.rank, s.id);
    so.start_alias = &ro.begin;
    ro.recorded = true;
    so.recorded = true;
  }

  // ---- completion ---------------------------------------------------------------------------------

  bool is_done(std::int32_t r, ir::OpId id) {
    OpState& o = rank_state(r).ops[id];
    if (!o.recorded.load()) return false;
    const cudaError_t e = cudaEventQuery(o.end);
    if (e == cudaSuccess) return true;
    if (e == cudaErrorNotReady) return false;
    throw CudaError("cudaEventQuery", cudaGetErrorString(e), __FILE__, __LINE__, r, describe(r, id));
  }

  bool wait_any(std::int32_t r, std::span<const ir::OpId> ids, Time timeout) {
    Rank& st = rank_state(r);
    const auto deadline = Clock::now() + std::chrono::nanoseconds(timeout.value / 1000);
    for (;;) {
      for (const auto id : ids)
        if (is_done(r, id)) return true;
      if (aborted.load()) {
        abort_comm(st);
        throw RunAborted(reason());
      }
      if (st.comm != nullptr) {
        ncclResult_t state = ncclSuccess;
        NCCL_CHECK_AT(ncclCommGetAsyncError(st.comm, &state), r, "polling");
        if (state != ncclSuccess && state != ncclInProgress) {
          const std::string msg = fmt::format("{} ({})", ncclGetErrorString(state), ncclGetLastError(st.comm));
          abort_comm(st);
          throw CudaError("ncclCommGetAsyncError", msg, __FILE__, __LINE__, r, ids.empty() ? "" : describe(r, ids[0]));
        }
      }
      if (Clock::now() > deadline) {
        // The executor turns this into RunTimeout naming the ops; run_ranks then aborts every communicator.
        return false;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  [[nodiscard]] const Rank& origin_rank() const {
    for (const auto& st : ranks)
      if (st) return *st;
    throw Error("the cuda backend drives no rank");
  }

  [[nodiscard]] Time since_origin(const Rank& st, cudaEvent_t ev, std::int32_t r, ir::OpId id) const {
    float ms = 0.0F;
    const cudaEvent_t origin = options.mode == LaunchMode::single_gpu ? origin_rank().origin : st.origin;
    CUDA_CHECK_OP(cudaEventElapsedTime(&ms, origin, ev), r, id);
    return seconds(static_cast<double>(ms) * 1e-3);
  }

  [[nodiscard]] OpTiming timing(std::int32_t r, ir::OpId id) const {
    const Rank& st = rank_state(r);
    const OpState& o = st.ops[id];
    if (!o.recorded.load()) throw Error(fmt::format("rank {} {}: timing of an op that did not run", r, describe(r, id)));
    CUDA_CHECK_OP(cudaEventSynchronize(o.end), r, id);
    OpTiming t;
    t.start = since_origin(st, o.start_alias != nullptr ? *o.start_alias : o.begin, r, id);
    t.end = since_origin(st, o.end, r, id);
    if (t.end < t.start) t.start = t.end;
    return t;
  }

  // ---- ranks --------------------------------------------------------------------------------------

  [[nodiscard]] std::string reason() {
    const std::lock_guard lock(abort_mutex);
    return abort_reason;
  }

  void abort(const std::string& why) noexcept {
    {
      const std::lock_guard lock(abort_mutex);
      if (abort_reason.empty()) abort_reason = why;
    }
    aborted = true;
  }

  /// Aligns every driven rank's clock origin: a host barrier, then (with NCCL) a one-element
  /// all-reduce so the GPUs leave it together, then an event recorded on each rank's device.
  void align_origin(std::int32_t r, std::barrier<>& local, int& arrived) {
    Rank& st = rank_state(r);
    CUDA_CHECK(cudaSetDevice(st.device));
    for (auto s : st.streams) CUDA_CHECK(cudaStreamSynchronize(s));
    ++arrived;
    local.arrive_and_wait();
    if (options.mode == LaunchMode::mpi) mpi::barrier();
    const cudaStream_t s0 = st.streams[static_cast<std::size_t>(ir::Stream::comm)];
    if (st.comm != nullptr) {
      NCCL_CHECK_AT(ncclAllReduce(st.scratch, st.scratch, 1, ncclFloat, ncclSum, st.comm, s0), r,
                    "clock alignment all-reduce");
      wait_comm(r, "clock alignment all-reduce");
    }
    // One GPU: every rank shares the first rank's origin (events of one device compare directly).
    if (options.mode != LaunchMode::single_gpu || &st == &origin_rank()) {
      CUDA_CHECK(cudaEventRecord(st.origin, s0));
      wait_event(r, st.origin, "clock alignment");  // polled: a missing peer must not hang us here
    }
    ++arrived;
    local.arrive_and_wait();
    ++arrived;
  }

  void run_ranks(const std::function<void(std::int32_t)>& body) {
    std::vector<std::int32_t> driven;
    for (std::size_t r = 0; r < ranks.size(); ++r)
      if (ranks[r]) driven.push_back(static_cast<std::int32_t>(r));
    std::barrier<> local(static_cast<std::ptrdiff_t>(driven.size()));
    std::mutex err_mutex;
    std::exception_ptr first, first_any;
    auto one = [&](std::int32_t r) {
      int arrived = 0;  // barrier phases this thread arrived at (of 2)
      try {
        align_origin(r, local, arrived);
        body(r);
      } catch (const RunAborted&) {
        const std::lock_guard lock(err_mutex);
        if (!first_any) first_any = std::current_exception();
      } catch (const std::exception& e) {
        {
          const std::lock_guard lock(err_mutex);
          if (!first) first = std::current_exception();
        }
        abort(fmt::format("rank {} failed: {}", r, e.what()));
      }
      // A rank that failed before both barriers leaves them, so the others do not wait for it forever.
      if (arrived == 0 || arrived == 2) local.arrive_and_drop();
      if (aborted.load()) abort_comm(rank_state(r));
    };
    if (driven.size() == 1) {
      one(driven[0]);
    } else {
      std::vector<std::thread> threads;
      threads.reserve(driven.size());
      for (const auto r : driven) threads.emplace_back(one, r);
      for (auto& t : threads) t.join();
    }
    if (first) std::rethrow_exception(first);
    if (first_any) std::rethrow_exception(first_any);
  }
};

CudaBackend::CudaBackend(CudaBackendOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.mode == LaunchMode::mpi && !mpi::compiled_in()) mpi::init();  // throws the explanation
  if (options.nccl_timeout.value <= 0) throw Error("the cuda backend's NCCL timeout must be positive");
  impl_->options = std::move(options);
}

CudaBackend::~CudaBackend() {
  impl_->release();
  if (impl_->mpi_inited) mpi::finalize();
}

void CudaBackend::allocate(const ir::Schedule& schedule) { impl_->allocate(schedule); }
void CudaBackend::write_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset, std::span<const float> values) {
  impl_->transfer_f32(rank, buffer, offset, const_cast<float*>(values.data()), values.size(), true);
}
void CudaBackend::read_buffer(std::int32_t rank, ir::BufferId buffer, std::size_t offset, std::span<float> values) const {
  impl_->transfer_f32(rank, buffer, offset, values.data(), values.size(), false);
}
bool CudaBackend::drives(std::int32_t rank) const {
  return rank >= 0 && static_cast<std::size_t>(rank) < impl_->ranks.size() && impl_->ranks[static_cast<std::size_t>(rank)];
}
void CudaBackend::run_ranks(const std::function<void(std::int32_t)>& body) { impl_->run_ranks(body); }
void CudaBackend::abort(const std::string& reason) noexcept { impl_->abort(reason); }
void CudaBackend::attend(std::int32_t rank, ir::OpId id, const ir::Attend& op) { impl_->attend(rank, id, op); }
void CudaBackend::attend_grad(std::int32_t rank, ir::OpId id, const ir::AttendGrad&) {
  throw Error(fmt::format("rank {} {}: the cuda backend does not implement attend_grad (backward) yet", rank,
                          impl_->describe(rank, id)));
}
void CudaBackend::merge(std::int32_t rank, ir::OpId id, const ir::Merge& op) { impl_->merge(rank, id, op); }
void CudaBackend::copy(std::int32_t rank, ir::OpId id, const ir::Copy& op) { impl_->copy(rank, id, op); }
void CudaBackend::reduce(std::int32_t rank, ir::OpId id, const ir::Reduce& op) { impl_->reduce(rank, id, op); }
void CudaBackend::gemm(std::int32_t rank, ir::OpId id, const ir::Gemm&) {
  throw Error(fmt::format("rank {} {}: the cuda backend does not implement gemm yet", rank, impl_->describe(rank, id)));
}
void CudaBackend::post_send(std::int32_t rank, ir::OpId id, const ir::Send& op) {
  impl_->post(rank, id, true, op.peer, op.data, op.tag);
}
void CudaBackend::post_recv(std::int32_t rank, ir::OpId id, const ir::Recv& op) {
  impl_->post(rank, id, false, op.peer, op.data, op.tag);
}
bool CudaBackend::is_done(std::int32_t rank, ir::OpId id) { return impl_->is_done(rank, id); }
bool CudaBackend::wait_any(std::int32_t rank, std::span<const ir::OpId> ids, Time timeout) {
  return impl_->wait_any(rank, ids, timeout);
}
OpTiming CudaBackend::timing(std::int32_t rank, ir::OpId id) const { return impl_->timing(rank, id); }
std::int32_t CudaBackend::world_size() const noexcept { return impl_->world; }
std::int32_t CudaBackend::process_rank() const noexcept { return impl_->me; }
std::string CudaBackend::device_name(std::int32_t rank) const {
  const auto& st = impl_->rank_state(rank);
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, st.device));
  return fmt::format("{} (sm_{}, GPU {})", prop.name, st.sm, st.device);
}
std::pair<std::int64_t, std::int64_t> CudaBackend::attend_paths() const noexcept {
  return {impl_->tensor_core_attends.load(), impl_->simt_attends.load()};
}

}  // namespace ringlab::runtime::cuda
