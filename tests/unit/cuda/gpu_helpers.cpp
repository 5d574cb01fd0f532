#include "gpu_helpers.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>

#include "ringlab/runtime/cuda/cuda_backend.hpp"
#include "ringlab/runtime/cuda/device_info.hpp"

namespace ringlab::test {

namespace {
std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

const ir::Buffer* first_role(const ir::RankProgram& p, ir::BufferRole role, ir::BufferId& id) {
  for (std::size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].role == role) {
      id = static_cast<ir::BufferId>(b);
      return &p.buffers[b];
    }
  return nullptr;
}
}  // namespace

bool skip_without_gpu() {
  if (runtime::cuda::visible_devices() > 0) return false;
  const auto info = runtime::cuda::query_devices();
  MESSAGE("skipped: no CUDA device visible (" << (info.error.empty() ? "device count 0" : info.error) << ")");
  return true;
}

std::uint64_t fresh_seed(const char* what) {
  static std::atomic<std::uint64_t> counter{0};
  const auto now = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const std::uint64_t seed = now ^ (0x9E3779B97F4A7C15ULL * ++counter);
  MESSAGE(what << ": seed " << seed);
  return seed;
}

float round_to(ir::DType t, float x) {
  if (t == ir::DType::fp32 || !std::isfinite(x)) return x;
  const int drop = t == ir::DType::bf16 ? 16 : 13;  // mantissa bits dropped: 23-7, 23-10
  auto u = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t half = 1U << (drop - 1);
  const std::uint32_t lsb = (u >> drop) & 1U;
  u = (u + half - 1 + lsb) & ~((1U << drop) - 1);
  return std::bit_cast<float>(u);
}

void round_all(ir::DType t, std::vector<float>& v) {
  for (auto& x : v) x = round_to(t, x);
}

double tolerance(ir::DType t, int merges) {
  const double base = t == ir::DType::bf16 ? 1.5e-2 : t == ir::DType::fp16 ? 3e-3 : 2e-5;
  return base * std::max(1.0, std::sqrt(static_cast<double>(merges)));
}

void load_token_major(const ir::Schedule& s, const runtime::HostInputs& in, runtime::Backend& backend) {
  const auto& w = s.workload;
  const std::int64_t B = w.batch, L = w.seq_len, H = w.q_heads, G = w.kv_heads, d = w.head_dim;
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const auto rank = static_cast<std::int32_t>(r);
    if (!backend.drives(rank)) continue;
    const auto pos = runtime::positions(s.token_sets[s.partition.owned[r]]);
    const auto& prog = s.ranks[r];
    for (std::size_t b = 0; b < prog.buffers.size(); ++b) {
      const auto& buf = prog.buffers[b];
      if (buf.role != ir::BufferRole::q) continue;
      std::vector<float> v(idx(buf.tokens * B * H * d), 0.0F);
      for (std::size_t i = 0; i < pos.size(); ++i)
        for (std::int64_t bt = 0; bt < B; ++bt)
          std::copy_n(&in.q[idx(((bt * L + pos[i]) * H) * d)], H * d,
                      &v[idx((static_cast<std::int64_t>(i) * B + bt) * H * d)]);
      backend.write_buffer(rank, static_cast<ir::BufferId>(b), 0, v);
    }
    ir::BufferId kv_id = 0;
    const auto* kv = first_role(prog, ir::BufferRole::kv, kv_id);
    REQUIRE(kv != nullptr);
    std::vector<float> v(idx(kv->tokens * B * 2 * G * d), 0.0F);
    for (std::size_t i = 0; i < pos.size(); ++i)
      for (std::int64_t bt = 0; bt < B; ++bt) {
        const auto row = idx((static_cast<std::int64_t>(i) * B + bt) * 2 * G * d);
        std::copy_n(&in.k[idx((bt * L + pos[i]) * G * d)], G * d, &v[row]);
        std::copy_n(&in.v[idx((bt * L + pos[i]) * G * d)], G * d, &v[row + idx(G * d)]);
      }
    backend.write_buffer(rank, kv_id, 0, v);
  }
}

void poison_outputs(const ir::Schedule& s, runtime::Backend& backend) {
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const auto rank = static_cast<std::int32_t>(r);
    if (!backend.drives(rank)) continue;
    const auto& prog = s.ranks[r];
    for (std::size_t b = 0; b < prog.buffers.size(); ++b) {
      const auto& buf = prog.buffers[b];
      using R = ir::BufferRole;
      if (buf.role != R::out && buf.role != R::partial_out && buf.role != R::lse && buf.role != R::partial_lse) continue;
      const std::vector<float> nan(idx(buf.bytes.value / ir::element_bytes(buf.dtype)),
                                   std::numeric_limits<float>::quiet_NaN());
      backend.write_buffer(rank, static_cast<ir::BufferId>(b), 0, nan);
    }
  }
}

Check check_token_major(const ir::Schedule& s, const runtime::Backend& backend, const runtime::ReferenceOutput& ref) {
  const auto& w = s.workload;
  const std::int64_t B = w.batch, L = w.seq_len, H = w.q_heads, d = w.head_dim;
  double max_ref = 0, max_err = 0, lse_err = 0;
  for (const double x : ref.out) max_ref = std::max(max_ref, std::abs(x));
  std::vector<int> seen(idx(L), 0);
  Check c;
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const auto rank = static_cast<std::int32_t>(r);
    const auto pos = runtime::positions(s.token_sets[s.partition.owned[r]]);
    for (const auto p : pos) ++seen[idx(p)];
    ir::BufferId out_id = 0, lse_id = 0;
    const auto* out = first_role(s.ranks[r], ir::BufferRole::out, out_id);
    const auto* lse = first_role(s.ranks[r], ir::BufferRole::lse, lse_id);
    REQUIRE(out != nullptr);
    REQUIRE(lse != nullptr);
    std::vector<float> got(idx(out->tokens * B * H * d)), got_lse(idx(lse->tokens * B * H));
    backend.read_buffer(rank, out_id, 0, got);
    backend.read_buffer(rank, lse_id, 0, got_lse);
    for (std::size_t i = 0; i < pos.size(); ++i)
      for (std::int64_t bt = 0; bt < B; ++bt)
        for (std::int64_t h = 0; h < H; ++h) {
          for (std::int64_t x = 0; x < d; ++x) {
            const double a = got[idx(((static_cast<std::int64_t>(i) * B + bt) * H + h) * d + x)];
            const double e = ref.out[idx(((bt * L + pos[i]) * H + h) * d + x)];
            const double err = std::isnan(a) ? std::numeric_limits<double>::infinity() : std::abs(a - e);
            if (err > max_err || (std::isinf(err) && c.worst.empty())) {
              max_err = err;
              c.worst = fmt::format("rank {} token {} batch {} head {} dim {}: got {} want {}", r, pos[i], bt, h, x, a, e);
            }
          }
          const double el = ref.lse[idx((bt * H + h) * L + pos[i])];
          const double al = got_lse[idx((static_cast<std::int64_t>(i) * B + bt) * H + h)];
          if (std::isfinite(el)) lse_err = std::max(lse_err, std::isfinite(al) ? std::abs(al - el) : std::numeric_limits<double>::infinity());
        }
  }
  for (std::size_t p = 0; p < seen.size(); ++p) REQUIRE_MESSAGE(seen[p] == 1, "token " << p << " owned " << seen[p] << " times");
  c.rel = max_ref > 0 ? max_err / max_ref : max_err;
  c.lse_abs = lse_err;
  return c;
}

}  // namespace ringlab::test
