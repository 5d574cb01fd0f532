#include "ringlab/runtime/numerics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/layout.hpp"

namespace ringlab::runtime {

namespace {

std::size_t idx(std::int64_t i) { return static_cast<std::size_t>(i); }

/// splitmix64 (Steele, Lea, Flood 2014): a counter-based generator, so value i of a tensor does not
/// depend on how many values were drawn before it.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

void fill(std::vector<float>& v, std::uint64_t seed, std::uint64_t tensor) {
  const std::uint64_t base = splitmix64(seed ^ splitmix64(tensor));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::uint64_t bits = splitmix64(base + i) >> 40;  // 24 random bits: exact in a float
    v[i] = static_cast<float>(bits) * (2.0F / 16777216.0F) - 1.0F;
  }
}

const ir::Buffer* first_with_role(const ir::RankProgram& prog, ir::BufferRole role, ir::BufferId& id) {
  for (std::size_t b = 0; b < prog.buffers.size(); ++b) {
    if (prog.buffers[b].role == role) {
      id = static_cast<ir::BufferId>(b);
      return &prog.buffers[b];
    }
  }
  return nullptr;
}

std::vector<std::int64_t> owned_positions(const ir::Schedule& s, std::size_t r) {
  if (r >= s.partition.owned.size() || s.partition.owned[r] >= s.token_sets.size()) {
    throw ValidationError(fmt::format("the partition does not name a valid token set for rank {}", r));
  }
  auto pos = positions(s.token_sets[s.partition.owned[r]]);
  for (const auto p : pos) {
    if (p < 0 || p >= s.workload.seq_len) {
      throw ValidationError(fmt::format("rank {} owns position {}, outside the sequence of {}", r, p, s.workload.seq_len));
    }
  }
  return pos;
}

void check_fits(const ir::Buffer& b, std::size_t r, std::size_t rows) {
  if (b.tokens < static_cast<std::int64_t>(rows)) {
    throw ValidationError(fmt::format("rank {} buffer '{}' has {} token rows but the rank owns {} tokens", r, b.name,
                                      b.tokens, rows));
  }
}

}  // namespace

bool attended(const ir::Workload& w, std::int64_t q, std::int64_t k) noexcept {
  if (w.causal) return k <= q && (w.window == 0 || q - w.window < k);
  if (w.window > 0) return q - w.window < k && k < q + w.window;
  return true;
}

std::vector<std::int64_t> positions(const ir::TokenSet& set) {
  std::vector<std::int64_t> out;
  out.reserve(idx(ir::token_count(set)));
  for (const auto& c : set.chunks)
    for (std::int64_t i = 0; i < c.length; ++i) out.push_back(c.start + i * c.stride);
  return out;
}

HostInputs make_inputs(const ir::Workload& w, std::uint64_t seed) {
  HostInputs in;
  in.workload = w;
  in.q.resize(idx(w.batch * w.seq_len * w.q_heads * w.head_dim));
  in.k.resize(idx(w.batch * w.seq_len * w.kv_heads * w.head_dim));
  in.v.resize(in.k.size());
  fill(in.q, seed, 1);
  fill(in.k, seed, 2);
  fill(in.v, seed, 3);
  return in;
}

void load_inputs(const ir::Schedule& s, const HostInputs& in, Backend& backend) {
  const auto& w = s.workload;
  if (!(in.workload == w)) throw Error("load_inputs: the inputs were made for another workload");
  const std::int64_t B = w.batch, L = w.seq_len, H = w.q_heads, G = w.kv_heads, d = w.head_dim;
  const std::span<const float> q(in.q), k(in.k), v(in.v);
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const auto rank = static_cast<std::int32_t>(r);
    if (!backend.drives(rank)) continue;
    const auto pos = owned_positions(s, r);
    const auto& prog = s.ranks[r];
    for (std::size_t b = 0; b < prog.buffers.size(); ++b) {
      const auto& buf = prog.buffers[b];
      if (buf.role != ir::BufferRole::q) continue;
      check_fits(buf, r, pos.size());
      for (std::int64_t bt = 0; bt < B; ++bt)
        for (std::size_t i = 0; i < pos.size(); ++i)
          backend.write_buffer(rank, static_cast<ir::BufferId>(b),
                               idx(ir::layout::qo(w, static_cast<std::int64_t>(i), bt, 0, 0)),
                               q.subspan(idx((bt * L + pos[i]) * H * d), idx(H * d)));
    }
    ir::BufferId kv_id = 0;
    const auto* kv = first_with_role(prog, ir::BufferRole::kv, kv_id);
    if (kv == nullptr) throw ValidationError(fmt::format("rank {} has no buffer with role kv", r));
    check_fits(*kv, r, pos.size());
    for (std::int64_t bt = 0; bt < B; ++bt) {
      for (std::size_t i = 0; i < pos.size(); ++i) {
        const auto t = static_cast<std::int64_t>(i);
        const auto src = idx((bt * L + pos[i]) * G * d);
        backend.write_buffer(rank, kv_id, idx(ir::layout::kv(w, t, bt, 0, 0, 0)), k.subspan(src, idx(G * d)));
        backend.write_buffer(rank, kv_id, idx(ir::layout::kv(w, t, bt, 1, 0, 0)), v.subspan(src, idx(G * d)));
      }
    }
  }
}

ReferenceOutput reference_attention(const HostInputs& in) {
  const auto& w = in.workload;
  const std::int64_t B = w.batch, L = w.seq_len, H = w.q_heads, G = w.kv_heads, d = w.head_dim;
  ReferenceOutput ref;
  ref.out.assign(idx(B * L * H * d), 0.0);
  ref.lse.assign(idx(B * H * L), -std::numeric_limits<double>::infinity());
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> scores(idx(L));
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t g = h / (H / G);
      for (std::int64_t i = 0; i < L; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < L; ++j) {
          if (!attended(w, i, j)) continue;
          double dot = 0;
          for (std::int64_t x = 0; x < d; ++x)
            dot += static_cast<double>(in.q[idx(((b * L + i) * H + h) * d + x)]) *
                   static_cast<double>(in.k[idx(((b * L + j) * G + g) * d + x)]);
          scores[idx(j)] = dot * scale;
          m = std::max(m, scores[idx(j)]);
        }
        if (std::isinf(m)) continue;  // nothing attended: zero output, -inf lse
        double sum = 0;
        double* o = &ref.out[idx(((b * L + i) * H + h) * d)];
        for (std::int64_t j = 0; j < L; ++j) {
          if (!attended(w, i, j)) continue;
          const double p = std::exp(scores[idx(j)] - m);
          sum += p;
          for (std::int64_t x = 0; x < d; ++x) o[x] += p * static_cast<double>(in.v[idx(((b * L + j) * G + g) * d + x)]);
        }
        for (std::int64_t x = 0; x < d; ++x) o[x] /= sum;
        ref.lse[idx((b * H + h) * L + i)] = m + std::log(sum);
      }
    }
  }
  return ref;
}

VerifyReport verify(const ir::Schedule& s, const Backend& backend, const ReferenceOutput& ref, double tolerance) {
  const auto& w = s.workload;
  const std::int64_t B = w.batch, L = w.seq_len, H = w.q_heads, d = w.head_dim;
  if (ref.out.size() != idx(B * L * H * d) || ref.lse.size() != idx(B * H * L)) {
    throw Error("verify: the reference was computed for another workload");
  }
  VerifyReport rep;
  for (const double x : ref.out) rep.max_abs_ref = std::max(rep.max_abs_ref, std::abs(x));
  std::vector<int> seen(idx(L), 0);
  bool nan = false;
  for (std::size_t r = 0; r < s.ranks.size(); ++r) {
    const auto rank = static_cast<std::int32_t>(r);
    const auto pos = owned_positions(s, r);
    for (const auto p : pos) ++seen[idx(p)];
    const auto& prog = s.ranks[r];
    ir::BufferId out_id = 0;
    ir::BufferId lse_id = 0;
    const auto* out = first_with_role(prog, ir::BufferRole::out, out_id);
    const auto* lse = first_with_role(prog, ir::BufferRole::lse, lse_id);
    if (out == nullptr) throw ValidationError(fmt::format("rank {} has no buffer with role out", r));
    check_fits(*out, r, pos.size());
    std::vector<float> got(idx(B * out->tokens * H * d));
    backend.read_buffer(rank, out_id, 0, got);
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::size_t i = 0; i < pos.size(); ++i) {
        for (std::int64_t e = 0; e < H * d; ++e) {
          const double a = got[idx(ir::layout::qo(w, static_cast<std::int64_t>(i), b, 0, 0) + e)];
          const double x = ref.out[idx((b * L + pos[i]) * H * d + e)];
          const double err = std::abs(a - x);
          if (std::isnan(a)) nan = true;
          if (err > rep.max_abs_error || std::isnan(a)) {
            rep.max_abs_error = std::isnan(a) ? std::numeric_limits<double>::infinity() : err;
            rep.worst_rank = rank;
            rep.worst_position = pos[i];
          }
        }
      }
    }
    if (lse != nullptr && lse->tokens >= static_cast<std::int64_t>(pos.size())) {
      std::vector<float> got_lse(idx(B * H * lse->tokens));
      backend.read_buffer(rank, lse_id, 0, got_lse);
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t h = 0; h < H; ++h)
          for (std::size_t i = 0; i < pos.size(); ++i) {
            const double x = ref.lse[idx((b * H + h) * L + pos[i])];
            if (!std::isfinite(x)) continue;
            const double a = got_lse[idx(ir::layout::lse(w, static_cast<std::int64_t>(i), b, h))];
            rep.max_lse_abs_error = std::max(rep.max_lse_abs_error, std::isfinite(a) ? std::abs(a - x)
                                                                                     : std::numeric_limits<double>::infinity());
          }
    }
  }
  rep.max_rel_error = rep.max_abs_ref > 0 ? rep.max_abs_error / rep.max_abs_ref : rep.max_abs_error;
  const auto bad = std::find_if(seen.begin(), seen.end(), [](int c) { return c != 1; });
  if (bad != seen.end()) {
    rep.passed = false;
    rep.message = fmt::format("FAILED: token {} is owned by {} ranks (the partition must cover each token exactly once)",
                              bad - seen.begin(), *bad);
  } else if (nan || !(rep.max_rel_error < tolerance)) {
    rep.passed = false;
    rep.message = fmt::format("FAILED: max relative error {:.3e} >= {:.1e} (worst: rank {}, token {})",
                              rep.max_rel_error, tolerance, rep.worst_rank, rep.worst_position);
  } else {
    rep.passed = true;
    rep.message = fmt::format("ok: max relative error {:.3e} < {:.1e} over {} tokens x {} heads (max lse error {:.3e})",
                              rep.max_rel_error, tolerance, L * B, H, rep.max_lse_abs_error);
  }
  return rep;
}

}  // namespace ringlab::runtime
