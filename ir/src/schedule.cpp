#include "ringlab/ir/schedule.hpp"

#include <algorithm>

#include "fields.hpp"

namespace ringlab::ir {

std::int64_t token_count(const TokenSet& set) noexcept {
  std::int64_t n = 0;
  for (const auto& c : set.chunks) n += c.length;
  return n;
}

const char* kind_name(const OpKind& kind) noexcept { return detail::kKindNames[kind.index()].data(); }

Flops op_flops(const OpKind& kind) noexcept {
  if (const auto* a = std::get_if<Attend>(&kind)) return a->flops;
  if (const auto* g = std::get_if<AttendGrad>(&kind)) return g->flops;
  if (const auto* m = std::get_if<Gemm>(&kind)) return m->flops;
  return Flops{0};
}

Bytes op_wire_bytes(const OpKind& kind) noexcept {
  if (const auto* s = std::get_if<Send>(&kind)) return s->data.bytes;
  return Bytes{0};
}

RankTotals rank_totals(const Schedule& s, std::size_t r) {
  RankTotals t;
  const auto& prog = s.ranks.at(r);
  t.ops = static_cast<std::int64_t>(prog.ops.size());
  for (const auto& op : prog.ops) {
    t.flops += op_flops(op.kind);
    t.phases = std::max(t.phases, op.phase + 1);
    if (const auto* a = std::get_if<Attend>(&op.kind)) {
      if (a->mask != Mask::skip) ++t.attends;
    } else if (const auto* snd = std::get_if<Send>(&op.kind)) {
      ++t.sends;
      t.sent += snd->data.bytes;
    } else if (const auto* rcv = std::get_if<Recv>(&op.kind)) {
      t.received += rcv->data.bytes;
    }
  }
  for (const auto& b : prog.buffers) t.memory += b.bytes;
  return t;
}

}  // namespace ringlab::ir
