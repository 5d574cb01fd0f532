// The attention and merge kernels against a float64 reference, on fresh random inputs every run.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "gpu_helpers.hpp"
#include "ringlab/runtime/cuda/attention.hpp"

using namespace ringlab;
using runtime::cuda::BlockProblem;

namespace {

std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

bool visible(const BlockProblem& p, std::int64_t q, std::int64_t k) {
  if (p.causal) return k <= q && (p.window == 0 || q - p.window < k);
  if (p.window > 0) return q - p.window < k && k < q + p.window;
  return true;
}

/// float64 attention of one block in the token-major layouts; lse -inf and zero output for an empty row.
void reference(const BlockProblem& p, const std::vector<float>& q, const std::vector<float>& kv,
               std::vector<double>& out, std::vector<double>& lse) {
  const std::int64_t B = p.batch, H = p.q_heads, G = p.kv_heads, d = p.head_dim;
  const auto tq = static_cast<std::int64_t>(p.q_positions.size()), tk = static_cast<std::int64_t>(p.k_positions.size());
  out.assign(idx(tq * B * H * d), 0.0);
  lse.assign(idx(tq * B * H), -std::numeric_limits<double>::infinity());
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> s(idx(tk));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t g = h / (H / G);
      for (std::int64_t i = 0; i < tq; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < tk; ++j) {
          s[idx(j)] = -std::numeric_limits<double>::infinity();
          if (!visible(p, p.q_positions[idx(i)], p.k_positions[idx(j)])) continue;
          double dot = 0;
          for (std::int64_t x = 0; x < d; ++x)
            dot += static_cast<double>(q[idx(((i * B + b) * H + h) * d + x)]) *
                   static_cast<double>(kv[idx(((j * B + b) * 2 * G + g) * d + x)]);
          s[idx(j)] = dot * scale;
          m = std::max(m, s[idx(j)]);
        }
        if (std::isinf(m)) continue;
        double sum = 0;
        double* o = &out[idx(((i * B + b) * H + h) * d)];
        for (std::int64_t j = 0; j < tk; ++j) {
          if (std::isinf(s[idx(j)])) continue;
          const double e = std::exp(s[idx(j)] - m);
          sum += e;
          for (std::int64_t x = 0; x < d; ++x) o[x] += e * static_cast<double>(kv[idx(((j * B + b) * 2 * G + G + g) * d + x)]);
        }
        for (std::int64_t x = 0; x < d; ++x) o[x] /= sum;
        lse[idx((i * B + b) * H + h)] = m + std::log(sum);
      }
    }
}

std::vector<float> random_values(std::mt19937_64& gen, std::size_t n, ir::DType t) {
  std::uniform_real_distribution<float> u(-1.0F, 1.0F);
  std::vector<float> v(n);
  for (auto& x : v) x = test::round_to(t, u(gen));
  return v;
}

const char* dtype_name(ir::DType t) { return t == ir::DType::bf16 ? "bf16" : t == ir::DType::fp16 ? "fp16" : "fp32"; }

/// Runs one block and checks output (relative to max |ref|) and lse (absolute); rows with no visible
/// key must hold zeros and -inf.
void check_block(BlockProblem p, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  const auto tq = static_cast<std::int64_t>(p.q_positions.size()), tk = static_cast<std::int64_t>(p.k_positions.size());
  const auto q = random_values(gen, idx(tq * p.batch * p.q_heads * p.head_dim), p.dtype);
  const auto kv = random_values(gen, idx(tk * p.batch * 2 * p.kv_heads * p.head_dim), p.dtype);
  std::vector<double> ref, ref_lse;
  reference(p, q, kv, ref, ref_lse);
  const auto got = runtime::cuda::run_block(p, q, kv);
  double max_ref = 0, max_err = 0, lse_err = 0;
  std::string worst;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(ref[i]));
    const double e = std::isnan(got.out[i]) ? std::numeric_limits<double>::infinity() : std::abs(got.out[i] - ref[i]);
    if (e > max_err || (std::isinf(e) && worst.empty())) {
      max_err = e;
      worst = fmt::format("element {}: got {} want {}", i, got.out[i], ref[i]);
    }
  }
  for (std::size_t i = 0; i < ref_lse.size(); ++i) {
    if (std::isinf(ref_lse[i])) {
      CHECK_MESSAGE((std::isinf(got.lse[i]) && got.lse[i] < 0), "row " << i << " sees no key: lse must be -inf, got " << got.lse[i]);
    } else {
      lse_err = std::max(lse_err, std::isfinite(got.lse[i]) ? std::abs(got.lse[i] - ref_lse[i])
                                                             : std::numeric_limits<double>::infinity());
    }
  }
  const double rel = max_ref > 0 ? max_err / max_ref : max_err;
  const double tol = test::tolerance(p.dtype);
  INFO(fmt::format("{} d={} B={} H={} G={} tq={} tk={} causal={} window={} kernel={} seed={}: rel err {:.3e} (tol {:.1e}), "
                   "lse err {:.3e}; worst {}",
                   dtype_name(p.dtype), p.head_dim, p.batch, p.q_heads, p.kv_heads, tq, tk, p.causal, p.window, got.kernel,
                   seed, rel, tol, lse_err, worst));
  CHECK(rel < tol);
  CHECK(lse_err < 8 * tol);
}

std::vector<std::int32_t> range(std::int32_t start, std::int32_t n, std::int32_t stride = 1) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + i * stride;
  return v;
}

}  // namespace

TEST_CASE("attention kernels match a float64 reference (dtypes, head dims, causal, GQA, tails)") {
  if (test::skip_without_gpu()) return;
  for (const auto dtype : {ir::DType::bf16, ir::DType::fp16, ir::DType::fp32}) {
    for (const std::int64_t d : {64, 128}) {
      for (const bool simt : {false, true}) {
        if (simt && dtype == ir::DType::fp32) continue;  // fp32 always runs the SIMT kernel
        for (const bool causal : {false, true}) {
          const auto seed = test::fresh_seed(fmt::format("{} d={} causal={} simt={}", dtype_name(dtype), d, causal, simt).c_str());
          BlockProblem p;
          p.batch = 2;
          p.q_heads = 4;
          p.kv_heads = 2;  // GQA: heads 0,1 -> kv 0; 2,3 -> kv 1
          p.head_dim = d;
          p.dtype = dtype;
          p.causal = causal;
          p.force_simt = simt;
          // Self block (diagonal when causal), lengths that are not tile multiples.
          p.q_positions = range(0, 200);
          p.k_positions = range(0, 200);
          check_block(p, seed);
          // A later q block against an earlier, overlapping kv block (partial causal tiles).
          p.q_positions = range(300, 150);
          p.k_positions = range(100, 330);
          check_block(p, seed + 1);
          // Striped token sets (stride 4) and MHA.
          p.kv_heads = 4;
          p.q_positions = range(1, 130, 4);
          p.k_positions = range(2, 70, 4);
          check_block(p, seed + 2);
        }
      }
    }
  }
}

TEST_CASE("a causal block whose first rows see no key writes zeros and -inf") {
  if (test::skip_without_gpu()) return;
  const auto seed = test::fresh_seed("empty rows");
  for (const bool simt : {false, true}) {
    BlockProblem p;
    p.head_dim = 64;
    p.q_heads = p.kv_heads = 2;
    p.causal = true;
    p.force_simt = simt;
    p.q_positions = range(0, 96);   // rows 0..63 precede every key
    p.k_positions = range(64, 96);
    check_block(p, seed);
  }
}

TEST_CASE("a sliding window masks by position") {
  if (test::skip_without_gpu()) return;
  const auto seed = test::fresh_seed("window");
  for (const bool causal : {false, true}) {
    BlockProblem p;
    p.head_dim = 128;
    p.q_heads = 2;
    p.kv_heads = 1;
    p.causal = causal;
    p.window = 37;
    p.q_positions = range(0, 300);
    p.k_positions = range(0, 300);
    check_block(p, seed);
  }
}

TEST_CASE("the merge kernel combines by log-sum-exp, -inf safe") {
  if (test::skip_without_gpu()) return;
  const auto seed = test::fresh_seed("merge");
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(-1.0F, 1.0F), l(-3.0F, 6.0F);
  const std::int64_t rows = 37, B = 2, H = 3;
  const float inf = std::numeric_limits<float>::infinity();
  for (const auto dtype : {ir::DType::bf16, ir::DType::fp16, ir::DType::fp32}) {
    for (const std::int64_t d : {64, 128}) {
      const auto n = idx(rows * B * H * d), nl = idx(rows * B * H);
      std::vector<float> o(n), po(n), lse(nl), plse(nl);
      for (auto& x : o) x = test::round_to(dtype, u(gen));
      for (auto& x : po) x = test::round_to(dtype, u(gen));
      for (std::size_t i = 0; i < nl; ++i) {
        lse[i] = i % 7 == 0 ? -inf : l(gen);   // empty accumulator
        plse[i] = i % 5 == 0 ? -inf : l(gen);  // empty partial
      }
      const auto [got, got_lse] = runtime::cuda::run_merge(rows, B, H, d, dtype, o, lse, po, plse);
      double err = 0, max_ref = 0, lerr = 0;
      for (std::size_t i = 0; i < nl; ++i) {
        const double l1 = lse[i], l2 = plse[i];
        double w1 = 1, w2 = 0, lr = l1;
        if (std::isinf(l1) && !std::isinf(l2)) {
          w1 = 0, w2 = 1, lr = l2;
        } else if (!std::isinf(l1) && !std::isinf(l2)) {
          lr = std::max(l1, l2) + std::log(std::exp(l1 - std::max(l1, l2)) + std::exp(l2 - std::max(l1, l2)));
          w1 = std::exp(l1 - lr);
          w2 = std::exp(l2 - lr);
        }
        if (std::isinf(lr)) {
          CHECK(std::isinf(got_lse[i]));
        } else {
          lerr = std::max(lerr, std::abs(got_lse[i] - lr));
        }
        for (std::int64_t x = 0; x < d; ++x) {
          const std::size_t k = i * idx(d) + idx(x);
          const double want = w1 * o[k] + w2 * po[k];
          max_ref = std::max(max_ref, std::abs(want));
          err = std::max(err, std::isnan(got[k]) ? inf : std::abs(got[k] - want));
        }
      }
      INFO(dtype_name(dtype) << " d=" << d << " rel err " << err / max_ref << " lse err " << lerr);
      CHECK(err / max_ref < test::tolerance(dtype));
      CHECK(lerr < 1e-4);
    }
  }
}
