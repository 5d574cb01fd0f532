#include "kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ringlab/core/error.hpp"
#include "ringlab/ir/layout.hpp"
#include "ringlab/runtime/numerics.hpp"

namespace ringlab::runtime::cpu {

namespace {

using std::int64_t;

std::size_t idx(int64_t i) { return static_cast<std::size_t>(i); }

/// Checks rows [offset, offset + rows) fit a buffer of `per_row` elements per token row x batch.
void check_rows(const View& v, int64_t batch, int64_t per_token, int64_t offset, int64_t rows, const char* what) {
  const int64_t tokens = v.meta->tokens;
  if (offset < 0 || rows < 0 || offset + rows > tokens) {
    throw ValidationError(fmt::format("{} rows [{}, {}) exceed buffer '{}' of {} token rows", what, offset,
                                      offset + rows, v.meta->name, tokens));
  }
  if (static_cast<int64_t>(v.data.size()) < batch * tokens * per_token) {
    throw ValidationError(fmt::format("{} buffer '{}' holds {} elements, fewer than {} tokens x batch {} x {}", what,
                                      v.meta->name, v.data.size(), tokens, batch, per_token));
  }
}

void check_heads(const ir::Workload& w, std::int32_t begin, std::int32_t heads) {
  if (begin < 0 || heads < 0 || begin + heads > w.q_heads) {
    throw ValidationError(fmt::format("heads [{}, {}) exceed the workload's {} query heads", begin, begin + heads,
                                      w.q_heads));
  }
}

std::vector<int64_t> slice_positions(const ir::Schedule& s, const ir::TokenSlice& t, const char* what) {
  if (t.positions >= s.token_sets.size()) {
    throw ValidationError(fmt::format("{} token set {} does not exist", what, t.positions));
  }
  auto pos = positions(s.token_sets[t.positions]);
  if (static_cast<int64_t>(pos.size()) != t.tokens) {
    throw ValidationError(
        fmt::format("{} slice has {} rows but its token set has {} positions", what, t.tokens, pos.size()));
  }
  return pos;
}

}  // namespace

void attend(const ir::Schedule& s, const ir::Attend& op, View q, View kv, View out, View lse) {
  const auto& w = s.workload;
  if (op.mask == ir::Mask::skip) return;  // no pair is attended: nothing is written
  if (w.dilation != 1) throw Error("the cpu backend does not implement dilated attention yet");
  const int64_t B = w.batch, H = w.q_heads, G = w.kv_heads, d = w.head_dim;
  if (G < 1 || H % G != 0) throw ValidationError(fmt::format("kv_heads {} must divide q_heads {}", G, H));
  check_heads(w, op.head_begin, op.heads);
  check_rows(q, B, H * d, op.q.token_offset, op.q.tokens, "q");
  check_rows(kv, B, 2 * G * d, op.kv.token_offset, op.kv.tokens, "kv");
  check_rows(out, B, H * d, op.out_offset, op.q.tokens, "out");
  check_rows(lse, B, H, op.out_offset, op.q.tokens, "lse");
  const auto qpos = slice_positions(s, op.q, "q");
  const auto kpos = slice_positions(s, op.kv, "kv");
  const bool masked = op.mask == ir::Mask::partial;

  namespace layout = ir::layout;
  const int64_t group = H / G;
  const float scale = 1.0F / std::sqrt(static_cast<float>(d));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> scores(idx(op.kv.tokens));
  std::vector<float> acc(idx(d));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = op.head_begin; h < op.head_begin + op.heads; ++h) {
      const int64_t g = h / group;
      for (int64_t i = 0; i < op.q.tokens; ++i) {
        const float* qi = &q.data[idx(layout::qo(w, op.q.token_offset + i, b, h, 0))];
        float m = neg_inf;
        for (int64_t j = 0; j < op.kv.tokens; ++j) {
          if (masked && !attended(w, qpos[idx(i)], kpos[idx(j)])) {
            scores[idx(j)] = neg_inf;
            continue;
          }
          const float* kj = &kv.data[idx(layout::kv(w, op.kv.token_offset + j, b, 0, g, 0))];
          float dot = 0;
          for (int64_t x = 0; x < d; ++x) dot += qi[x] * kj[x];
          scores[idx(j)] = dot * scale;
          m = std::max(m, scores[idx(j)]);
        }
        float* oi = &out.data[idx(layout::qo(w, op.out_offset + i, b, h, 0))];
        float& li = lse.data[idx(layout::lse(w, op.out_offset + i, b, h))];
        std::fill(acc.begin(), acc.end(), 0.0F);
        if (m == neg_inf) {  // no key attended: empty softmax, zero output
          std::fill(oi, oi + d, 0.0F);
          li = neg_inf;
          continue;
        }
        float sum = 0;
        for (int64_t j = 0; j < op.kv.tokens; ++j) {
          if (scores[idx(j)] == neg_inf) continue;
          const float p = std::exp(scores[idx(j)] - m);
          sum += p;
          const float* vj = &kv.data[idx(layout::kv(w, op.kv.token_offset + j, b, 1, g, 0))];
          for (int64_t x = 0; x < d; ++x) acc[idx(x)] += p * vj[x];
        }
        for (int64_t x = 0; x < d; ++x) oi[x] = acc[idx(x)] / sum;
        li = m + std::log(sum);
      }
    }
  }
}

void merge(const ir::Schedule& s, const ir::Merge& op, View out, View lse, View partial_out, View partial_lse) {
  const auto& w = s.workload;
  const int64_t B = w.batch, H = w.q_heads, d = w.head_dim;
  check_heads(w, op.head_begin, op.heads);
  check_rows(out, B, H * d, op.offset, op.rows, "merge out");
  check_rows(lse, B, H, op.offset, op.rows, "merge lse");
  check_rows(partial_out, B, H * d, op.partial_offset, op.rows, "merge partial_out");
  check_rows(partial_lse, B, H, op.partial_offset, op.rows, "merge partial_lse");
  namespace layout = ir::layout;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = op.head_begin; h < op.head_begin + op.heads; ++h) {
      for (int64_t i = 0; i < op.rows; ++i) {
        float& l1 = lse.data[idx(layout::lse(w, op.offset + i, b, h))];
        const float l2 = partial_lse.data[idx(layout::lse(w, op.partial_offset + i, b, h))];
        float* o1 = &out.data[idx(layout::qo(w, op.offset + i, b, h, 0))];
        const float* o2 = &partial_out.data[idx(layout::qo(w, op.partial_offset + i, b, h, 0))];
        if (l2 == neg_inf) continue;  // the partial attended nothing: the accumulator stands
        if (l1 == neg_inf) {          // the accumulator is empty: take the partial as is
          std::copy(o2, o2 + d, o1);
          l1 = l2;
          continue;
        }
        // lse = log(exp(l1) + exp(l2)), computed around the larger term so nothing overflows.
        const float m = std::max(l1, l2);
        const float l = m + std::log(std::exp(l1 - m) + std::exp(l2 - m));
        const float w1 = std::exp(l1 - l);
        const float w2 = std::exp(l2 - l);
        for (int64_t x = 0; x < d; ++x) o1[x] = w1 * o1[x] + w2 * o2[x];
        l1 = l;
      }
    }
  }
}

}  // namespace ringlab::runtime::cpu
