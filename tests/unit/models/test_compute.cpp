// Compute model: the FA2 fit, hand-derived attention / merge / GEMM / copy times, the table model.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <variant>

#include "helpers.hpp"
#include "ringlab/ir/generate.hpp"
#include "ringlab/models/compute.hpp"
#include "ringlab/models/registry.hpp"

using namespace ringlab;
using namespace ringlab::models;
using namespace ringlab::models::test;

namespace {
AttendShape square(std::int64_t s, std::int64_t d, ir::Mask mask, ir::Pass pass = ir::Pass::forward) {
  // FLOPs as in hardware.md: 4*s^2*h*d forward (h = 16 heads here), halved for causal, x2.5 backward.
  std::int64_t f = 4 * s * s * 16 * d;
  if (mask == ir::Mask::partial) f /= 2;
  if (pass == ir::Pass::backward) f = f * 5 / 2;
  return {s, s, 16, d, ir::DType::bf16, mask, pass, Flops(f)};
}
double tf(FlopRate r) { return r.value / 1e12; }
}  // namespace

TEST_CASE("compute: effective block length is the harmonic mean of q and kv rows") {
  CHECK(effective_block_length(8192, 8192) == doctest::Approx(8192));
  CHECK(effective_block_length(1024, 4096) == doctest::Approx(1638.4));  // 2*1024*4096/5120
  CHECK(effective_block_length(0, 4096) == 0);
}

TEST_CASE("compute: the H100 fit reproduces the published FlashAttention-2 curves (hardware.md)") {
  const ParametricComputeModel m(load_device(device_file("h100-sxm")));
  struct Point {
    std::int64_t s, d;
    ir::Mask mask;
    ir::Pass pass;
    double published_tf;
  };
  // arXiv 2407.08608: FA2 on H100, FLOPs counted as in hardware.md. The fit passes through both ends.
  const Point points[] = {
      {512, 128, ir::Mask::full, ir::Pass::forward, 309},     {16384, 128, ir::Mask::full, ir::Pass::forward, 370},
      {512, 128, ir::Mask::partial, ir::Pass::forward, 191},  {16384, 128, ir::Mask::partial, ir::Pass::forward, 335},
      {512, 128, ir::Mask::full, ir::Pass::backward, 214},    {16384, 128, ir::Mask::full, ir::Pass::backward, 322},
      {512, 64, ir::Mask::full, ir::Pass::forward, 282},      {16384, 64, ir::Mask::full, ir::Pass::forward, 324},
  };
  for (const auto& p : points) {
    CAPTURE(p.s);
    CAPTURE(p.d);
    CHECK(tf(m.attention_rate(square(p.s, p.d, p.mask, p.pass))) == doctest::Approx(p.published_tf).epsilon(0.01));
  }
  // Rising with block length, never above the limit: hd128 forward 337.7 TF at 1K, 363.1 TF at 4K.
  CHECK(tf(m.attention_rate(square(1024, 128, ir::Mask::full))) == doctest::Approx(337.7).epsilon(1e-3));
  CHECK(tf(m.attention_rate(square(4096, 128, ir::Mask::full))) == doctest::Approx(363.1).epsilon(1e-3));
}

TEST_CASE("compute: an 8192 x 8192 causal block on H100 (bf16, 16 heads, d = 128)") {
  const ParametricComputeModel m(load_device(device_file("h100-sxm")));
  const auto shape = square(8192, 128, ir::Mask::partial);
  CHECK(shape.flops.value == 274877906944);  // 4 * 8192^2 * 16 * 128 / 2 = 2^38
  // fwd(8192) = 0.3765 * 8192/(8192+105) = 0.371735; partial(8192) = 0.9192 * 8192/(8192+249) = 0.892085
  // rate = 989 TF * 0.371735 * 0.892085 = 327.97 TF; time = 3 us + 2^38 / 327.97e12 s = 3 + 838.115 = 841.115 us
  CHECK(tf(m.attention_rate(shape)) == doctest::Approx(327.97).epsilon(1e-4));
  CHECK(us(m.attend_time(shape)) == doctest::Approx(841.115).epsilon(1e-5));
  // The same block unmasked: twice the FLOPs at 989 * 0.371735 = 367.65 TF: 3 + 1495.34 = 1498.34 us.
  CHECK(us(m.attend_time(square(8192, 128, ir::Mask::full))) == doctest::Approx(1498.34).epsilon(1e-5));
  // Skipped blocks cost nothing, not even a launch.
  CHECK(m.attend_time(square(8192, 128, ir::Mask::skip)) == Time{0});
}

TEST_CASE("compute: merge, GEMM, copy and reduce on H100") {
  const ParametricComputeModel m(load_device(device_file("h100-sxm")));
  // Streaming bandwidth 3350 GB/s * 0.9 = 3015 GB/s; launch 3 us.
  // Merge of 8192 rows x 32 heads, d = 128, bf16 out and partial out, fp32 lse:
  // bytes = 8192 * 32 * (128 * (2*2 + 2) + 2*4 + 4) = 262144 * 780 = 204,472,320 B -> 3 + 67.818 us.
  ir::RankProgram rank;
  rank.buffers = {{"out", ir::BufferRole::out, ir::DType::bf16, 8192, Bytes(0)},
                  {"lse", ir::BufferRole::lse, ir::DType::fp32, 8192, Bytes(0)},
                  {"partial_out", ir::BufferRole::partial_out, ir::DType::bf16, 8192, Bytes(0)},
                  {"partial_lse", ir::BufferRole::partial_lse, ir::DType::fp32, 8192, Bytes(0)}};
  ir::Workload w;
  w.seq_len = 65536;
  w.q_heads = 32;
  w.kv_heads = 8;
  w.head_dim = 128;
  ir::Merge merge{0, 1, 2, 3, 0, 0, 8192, 0, 32};
  CHECK(merge_bytes(merge, w, rank).value == 204472320);
  CHECK(us(m.merge_time(merge_bytes(merge, w, rank))) == doctest::Approx(70.8183).epsilon(1e-5));
  ir::Op op;
  op.kind = merge;
  CHECK(m.op_time(op, w, rank) == m.merge_time(Bytes(204472320)));
  // GEMM 8192^3: 2 * 8192^3 = 1.0995e12 FLOPs at 989 TF * 0.75 = 741.75 TF: 3 + 1482.32 us.
  CHECK(us(m.gemm_time(Flops(2LL * 8192 * 8192 * 8192), ir::DType::bf16)) == doctest::Approx(1485.32).epsilon(1e-5));
  // Copy of 1 GiB: read + write 2^31 B at 3015 GB/s = 712.27 us, + 3 us.
  CHECK(us(m.copy_time(Bytes(1LL << 30))) == doctest::Approx(715.27).epsilon(1e-5));
  // Reduce of 1 GiB: read src, read dst, write dst = 3 * 2^30 B = 1068.40 us, + 3 us.
  CHECK(us(m.reduce_time(Bytes(1LL << 30))) == doctest::Approx(1071.40).epsilon(1e-5));
  // Send/Recv are the communication model's.
  op.kind = ir::Send{1, ir::ByteSlice{0, Bytes(0), Bytes(1 << 20)}, 0};
  CHECK(m.op_time(op, w, rank) == Time{0});
}

TEST_CASE("compute: backward blocks use the forward curve times the backward factor") {
  const ParametricComputeModel m(load_device(device_file("h100-sxm")));
  // backward(8192) = 0.8775 * 8192/(8192+137) = 0.863067; rate = 989 * 0.371735 * 0.863067 = 317.31 TF
  // (hardware.md's 2.5x-forward FLOP count: 2.5 * 2^39 = 1.374e12 FLOPs -> 3 + 4331.4 us)
  const auto shape = square(8192, 128, ir::Mask::full, ir::Pass::backward);
  CHECK(tf(m.attention_rate(shape)) == doctest::Approx(317.31).epsilon(1e-4));
  CHECK(us(m.attend_time(shape)) == doctest::Approx(3 + 2.5 * 549755813888.0 / 317.31e12 * 1e6).epsilon(1e-4));
}

TEST_CASE("compute: a bf16 attention on a GTX 1080 is an error naming the device file") {
  const auto path = device_file("gtx1080");
  const ParametricComputeModel m(load_device(path));
  const auto msg = input_error_of([&] { (void)m.attend_time(square(1024, 128, ir::Mask::full)); });
  CHECK(msg.rfind(path + ":", 0) == 0);
  CHECK(msg.find("peak_tflops.bf16") != std::string::npos);
  auto fp32 = square(1024, 128, ir::Mask::full);
  fp32.dtype = ir::DType::fp32;
  // fwd(1024) = 0.40 * 1024/(1024+256) = 0.32; 8.87 TF * 0.32 = 2.8384 TF
  CHECK(tf(m.attention_rate(fp32)) == doctest::Approx(2.8384).epsilon(1e-6));
}

TEST_CASE("compute: the table model interpolates in log space and falls back to the curve") {
  auto dev = load_device(device_file("h100-sxm"));
  dev.attention_table = load_attention_table(repo_file("tests/unit/models/data/h100-profile.yaml"));
  const auto table = make_compute_model("table", dev);
  const auto parametric = make_compute_model("parametric", dev);
  CHECK(table->name() == "table");
  CHECK(parametric->name() == "parametric");
  AttendShape s{2048, 1024, 16, 128, ir::DType::bf16, ir::Mask::full, ir::Pass::forward, Flops(1LL << 38)};
  // Grid: (1024,1024) 100, (1024,4096) 200, (4096,1024) 300, (4096,4096) 400 TF.
  // q = 2048 is halfway between 1024 and 4096 in log space (log 2 / log 4 = 0.5): (100 + 300)/2 = 200 TF.
  CHECK(tf(table->attention_rate(s)) == doctest::Approx(200));
  // 2^38 FLOPs at 200 TF = 1374.39 us, + 3 us launch.
  CHECK(us(table->attend_time(s)) == doctest::Approx(1377.39).epsilon(1e-5));
  s.kv_rows = 2048;  // the centre of the grid: mean of the four corners
  CHECK(tf(table->attention_rate(s)) == doctest::Approx(250));
  s.q_rows = 1448;  // w = log(1448/1024)/log(4) = 0.2499; along the kv = 2048 line the rate goes 150 -> 350
  const double wq = std::log(1448.0 / 1024.0) / std::log(4.0);
  CHECK(tf(table->attention_rate(s)) == doctest::Approx(150 + wq * 200));
  s.q_rows = 65536;  // beyond the grid: the edge value (q = 4096, kv = 2048: 350)
  CHECK(tf(table->attention_rate(s)) == doctest::Approx(350));
  // No exact group (causal block, head dim 64, fp16, backward): the parametric curve.
  for (auto other : {square(2048, 128, ir::Mask::partial), square(2048, 64, ir::Mask::full),
                     square(2048, 128, ir::Mask::full, ir::Pass::backward)}) {
    CHECK(table->attention_rate(other) == parametric->attention_rate(other));
  }
  auto fp16 = square(2048, 128, ir::Mask::full);
  fp16.dtype = ir::DType::fp16;
  CHECK(table->attention_rate(fp16) == parametric->attention_rate(fp16));
}

TEST_CASE("compute: the registry builds models by name and rejects unknown names") {
  ModelRegistry registry;
  register_builtin_models(registry);
  CHECK(registry.compute_names() == std::vector<std::string>{"parametric", "table"});
  CHECK(registry.has_compute("table"));
  const auto dev = load_device(device_file("h100-sxm"));
  CHECK_THROWS_WITH_AS((void)registry.make_compute("roofline", dev),
                       "unknown compute model 'roofline' (known: parametric, table)", Error);
  CHECK_THROWS_AS(register_builtin_models(registry), Error);  // names are registered once
}

TEST_CASE("compute: op_time prices a generated causal ring schedule op by op") {
  const ParametricComputeModel m(load_device(device_file("h100-sxm")));
  ir::Workload w;
  w.seq_len = 8 * 8192;
  w.q_heads = 16;
  w.kv_heads = 16;
  w.head_dim = 128;
  w.causal = true;
  const auto s = ir::generate(w, ir::ScheduleSpec{"ring", 8, {}});
  // Rank 0 of a causal contiguous ring: its diagonal block, then 7 blocks of later ranks (skipped).
  // Rank 7: the diagonal block plus 7 full blocks of earlier ranks, each with a merge.
  Time rank0{0}, rank7{0};
  int skipped = 0;
  for (const auto& op : s.ranks[0].ops) {
    rank0 += m.op_time(op, w, s.ranks[0]);
    if (const auto* a = std::get_if<ir::Attend>(&op.kind)) skipped += a->mask == ir::Mask::skip ? 1 : 0;
  }
  for (const auto& op : s.ranks[7].ops) rank7 += m.op_time(op, w, s.ranks[7]);
  CHECK(skipped == 7);
  // Rank 0: one causal 8192 block = 841.115 us (see above); nothing else costs compute time.
  CHECK(us(rank0) == doctest::Approx(841.115).epsilon(1e-5));
  // Rank 7: 841.115 + 7 * 1498.339 (full blocks) + 7 merges of 8192 x 16 heads:
  // 8192 * 16 * 780 = 102,236,160 B -> 3 + 33.909 us each.
  CHECK(us(rank7) == doctest::Approx(841.115 + 7 * 1498.339 + 7 * (3 + 33.9092)).epsilon(1e-5));
}
