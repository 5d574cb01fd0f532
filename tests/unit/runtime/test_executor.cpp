#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ringlab/core/error.hpp"
#include "ringlab/runtime/cpu_backend.hpp"

using namespace ringlab;
using namespace ringlab::runtime;

namespace {

ir::Op make_op(ir::OpId id, ir::Stream stream, ir::OpKind kind, std::initializer_list<ir::OpId> deps = {},
               std::uint32_t group = 0) {
  ir::Op op;
  op.id = id;
  op.stream = stream;
  op.group = group;
  op.deps.assign(deps.begin(), deps.end());
  op.kind = std::move(kind);
  return op;
}

/// `ranks` ranks, each with one 4-element fp32 workspace buffer "x" and the given programs.
ir::Schedule hand_schedule(std::vector<std::vector<ir::Op>> programs) {
  ir::Schedule s;
  s.variant = "hand";
  s.workload.seq_len = static_cast<std::int64_t>(programs.size());
  for (auto& ops : programs) {
    ir::RankProgram p;
    p.buffers = {ir::Buffer{"x", ir::BufferRole::workspace, ir::DType::fp32, 0, Bytes(16)}};
    p.ops = std::move(ops);
    s.ranks.push_back(std::move(p));
  }
  return s;
}

const ir::ByteSlice kAll{0, Bytes(0), Bytes(16)};

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

ExecuteOptions quick(double timeout_s) {
  ExecuteOptions o;
  o.schedule_hash = "test";
  o.timeout = seconds(timeout_s);
  return o;
}

}  // namespace

TEST_CASE("executor: a send/recv moves the data; each side's record runs from its issue to the common end") {
  const auto s = hand_schedule({{make_op(0, ir::Stream::comm, ir::Send{1, kAll, 7})},
                                {make_op(0, ir::Stream::comm, ir::Recv{0, kAll, 7})}});
  CpuBackend b;
  b.allocate(s);
  b.write_buffer(0, 0, 0, std::vector<float>{1, 2, 3, 4});
  const auto t = execute(s, b, quick(10));
  const auto y = b.buffer(1, 0);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{1, 2, 3, 4});
  REQUIRE(t.records.size() == 2);
  // Like a CUDA event around an NCCL send/recv (and like the simulator), a record starts when its side
  // was issued, waiting for the peer included, and both end when the copy ends.
  CHECK(t.records[0].start <= t.records[0].end);
  CHECK(t.records[1].start <= t.records[1].end);
  CHECK(t.records[0].end == t.records[1].end);
  CHECK(t.records[0].bytes == Bytes(16));
  CHECK(t.schedule_hash == "test");
}

TEST_CASE("executor: a grouped send+recv ring exchange completes; the same ops ungrouped deadlock and time out") {
  auto exchange = [](std::uint32_t group) {
    std::vector<std::vector<ir::Op>> progs;
    for (int r = 0; r < 3; ++r) {
      progs.push_back({make_op(0, ir::Stream::comm, ir::Send{(r + 1) % 3, kAll, 0}, {}, group),
                       make_op(1, ir::Stream::comm, ir::Recv{(r + 2) % 3, kAll, 0}, {}, group)});
    }
    return hand_schedule(progs);
  };
  const auto grouped = exchange(1);
  CpuBackend b;
  b.allocate(grouped);
  for (std::int32_t r = 0; r < 3; ++r) b.write_buffer(r, 0, 0, std::vector<float>(4, static_cast<float>(r)));
  (void)execute(grouped, b, quick(10));
  // Send and recv share the buffer; the send read it before the recv landed? No: rendezvous copies are
  // made when both sides are posted, so each rank ends with its predecessor's or its own value.
  const auto ungrouped = exchange(0);
  CpuBackend d;
  d.allocate(ungrouped);
  const auto msg = error_of([&] { (void)execute(ungrouped, d, quick(0.2)); });
  CHECK(msg.find("no progress for 0.2 s waiting on op 0 (send to rank") != std::string::npos);
}

TEST_CASE("executor: a peer that never arrives times out naming rank and op") {
  const auto s = hand_schedule({{make_op(0, ir::Stream::comm, ir::Send{1, kAll, 3})}, {}});
  CpuBackend b;
  b.allocate(s);
  CHECK(error_of([&] { (void)execute(s, b, quick(0.2)); }) ==
        "rank 0: no progress for 0.2 s waiting on op 0 (send to rank 1, tag 3, phase 0): the peer never posted the "
        "matching transfer (raise --timeout-s if the peer is merely slow)");
  const auto r = hand_schedule({{}, {make_op(0, ir::Stream::comm, ir::Recv{0, kAll, 5})}});
  CpuBackend b2;
  b2.allocate(r);
  CHECK_THROWS_AS((void)execute(r, b2, quick(0.2)), RunTimeout);
}

namespace {
/// A CPU backend whose merge is slow: it only sleeps.
class SlowMergeBackend : public CpuBackend {
 protected:
  void merge_kernel(std::int32_t, const ir::Merge&) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }
};
}  // namespace

TEST_CASE("executor: a peer still computing is waited for past the timeout; only idleness times out") {
  const auto s = hand_schedule({{make_op(0, ir::Stream::compute, ir::Merge{}),
                                 make_op(1, ir::Stream::comm, ir::Send{1, kAll, 0}, {0})},
                                {make_op(0, ir::Stream::comm, ir::Recv{0, kAll, 0})}});
  SlowMergeBackend b;
  b.allocate(s);
  CHECK_NOTHROW((void)execute(s, b, quick(0.2)));
}

TEST_CASE("executor: a failing rank stops the others at once with its own error, not a timeout") {
  const auto s = hand_schedule({{make_op(0, ir::Stream::compute, ir::AttendGrad{}),
                                 make_op(1, ir::Stream::comm, ir::Send{1, kAll, 0}, {0})},
                                {make_op(0, ir::Stream::comm, ir::Recv{0, kAll, 0})}});
  CpuBackend b;
  b.allocate(s);
  const auto t0 = std::chrono::steady_clock::now();
  const auto msg = error_of([&] { (void)execute(s, b, quick(30)); });
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  CHECK(msg == "rank 0 op 0 (attend_grad, phase 0): attend_grad is not supported by the cpu backend yet (run the "
               "forward pass)");
  const auto g = hand_schedule({{make_op(0, ir::Stream::compute, ir::Gemm{})}});
  CpuBackend b2;
  b2.allocate(g);
  CHECK(error_of([&] { (void)execute(g, b2, quick(1)); }).find("gemm is not supported by the cpu backend yet") !=
        std::string::npos);
}

TEST_CASE("executor: programs that cannot make progress are validation errors, not hangs") {
  const auto own_group = hand_schedule({{make_op(0, ir::Stream::comm, ir::Send{0, kAll, 0}, {}, 1),
                                         make_op(1, ir::Stream::comm, ir::Recv{0, kAll, 0}, {0}, 1)}});
  CpuBackend b;
  b.allocate(own_group);
  CHECK_THROWS_WITH_AS((void)execute(own_group, b, quick(1)), doctest::Contains("of its own group 1"),
                       ValidationError);
  const auto later = hand_schedule({{make_op(0, ir::Stream::compute, ir::Copy{kAll, kAll}, {1}),
                                     make_op(1, ir::Stream::compute, ir::Copy{kAll, kAll})}});
  CpuBackend b2;
  b2.allocate(later);
  CHECK_THROWS_WITH_AS((void)execute(later, b2, quick(1)), doctest::Contains("which is not an earlier op"),
                       ValidationError);
  const auto mismatch = hand_schedule({{make_op(0, ir::Stream::comm, ir::Send{1, kAll, 0})},
                                       {make_op(0, ir::Stream::comm, ir::Recv{0, ir::ByteSlice{0, Bytes(0), Bytes(8)}, 0})}});
  CpuBackend b3;
  b3.allocate(mismatch);
  CHECK_THROWS_WITH_AS((void)execute(mismatch, b3, quick(5)), doctest::Contains("expects 2"), ValidationError);
}

TEST_CASE("executor: copy and reduce move and add elements") {
  const ir::ByteSlice lo{0, Bytes(0), Bytes(8)};
  const ir::ByteSlice hi{0, Bytes(8), Bytes(8)};
  const auto s = hand_schedule({{make_op(0, ir::Stream::compute, ir::Reduce{lo, hi, ir::DType::fp32}),
                                 make_op(1, ir::Stream::compute, ir::Copy{hi, lo})}});
  CpuBackend b;
  b.allocate(s);
  b.write_buffer(0, 0, 0, std::vector<float>{1, 2, 10, 20});
  const auto t = execute(s, b, quick(1));
  const auto x = b.buffer(0, 0);
  CHECK(std::vector<float>(x.begin(), x.end()) == std::vector<float>{11, 22, 11, 22});
  CHECK(t.records[1].bytes == Bytes(8));
}

namespace {
/// A backend with no threads and no data: compute finishes at launch, transfers only when the
/// executor waits. Shows the walking logic does not depend on the CPU backend.
class ScriptedBackend : public Backend {
 public:
  std::vector<std::string> log;  // launch order
  std::vector<ir::OpId> pending;
  std::vector<std::uint8_t> done = std::vector<std::uint8_t>(16, 0);
  std::int64_t clock = 0;

  std::string name() const override { return "scripted"; }
  void allocate(const ir::Schedule&) override {}
  void write_buffer(std::int32_t, ir::BufferId, std::size_t, std::span<const float>) override {}
  void read_buffer(std::int32_t, ir::BufferId, std::size_t, std::span<float>) const override {}
  bool drives(std::int32_t) const override { return true; }
  void run_ranks(const std::function<void(std::int32_t)>& body) override { body(0); }
  void abort(const std::string&) noexcept override {}
  void compute(ir::OpId id, const char* what) {
    log.push_back(what + std::to_string(id));
    done[id] = 1;
  }
  void attend(std::int32_t, ir::OpId id, const ir::Attend&) override { compute(id, "attend"); }
  void attend_grad(std::int32_t, ir::OpId id, const ir::AttendGrad&) override { compute(id, "attend_grad"); }
  void merge(std::int32_t, ir::OpId id, const ir::Merge&) override { compute(id, "merge"); }
  void copy(std::int32_t, ir::OpId id, const ir::Copy&) override { compute(id, "copy"); }
  void reduce(std::int32_t, ir::OpId id, const ir::Reduce&) override { compute(id, "reduce"); }
  void gemm(std::int32_t, ir::OpId id, const ir::Gemm&) override { compute(id, "gemm"); }
  void post_send(std::int32_t, ir::OpId id, const ir::Send&) override {
    log.push_back("send" + std::to_string(id));
    pending.push_back(id);
  }
  void post_recv(std::int32_t, ir::OpId id, const ir::Recv&) override {
    log.push_back("recv" + std::to_string(id));
    pending.push_back(id);
  }
  bool is_done(std::int32_t, ir::OpId id) override { return done[id] != 0; }
  bool wait_any(std::int32_t, std::span<const ir::OpId>, Time) override {
    log.push_back("wait");
    for (const auto id : pending) done[id] = 1;
    pending.clear();
    return true;
  }
  OpTiming timing(std::int32_t, ir::OpId id) const override {
    return OpTiming{Time(static_cast<std::int64_t>(id)), Time(static_cast<std::int64_t>(id) + 1)};
  }
};
}  // namespace

TEST_CASE("executor: transfers post before compute, groups launch together, deps wait (backend-independent)") {
  // compute: attend0, attend3 (needs recv 2); comm: group {send 1, recv 2}; compute_aux: copy 4 needs 3.
  ir::Attend a;
  a.mask = ir::Mask::skip;
  const auto s = hand_schedule({{make_op(0, ir::Stream::compute, a),
                                 make_op(1, ir::Stream::comm, ir::Send{0, kAll, 0}, {}, 5),
                                 make_op(2, ir::Stream::comm, ir::Recv{0, kAll, 0}, {}, 5),
                                 make_op(3, ir::Stream::compute, a, {2}),
                                 make_op(4, ir::Stream::compute_aux, ir::Copy{kAll, kAll}, {3})}});
  ScriptedBackend b;
  const auto t = execute(s, b, quick(1));
  CHECK(b.log == std::vector<std::string>{"send1", "recv2", "attend0", "wait", "attend3", "copy4"});
  CHECK(t.source == "scripted");
  CHECK(t.records.size() == 5);
}
