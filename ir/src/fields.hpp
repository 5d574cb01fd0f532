#pragma once
// One description of every IR struct's fields, shared by the JSON writer, the YAML reader and the
// hash, so the three can never disagree about what a schedule contains.
#include <array>
#include <string_view>
#include <type_traits>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::ir::detail {

template <class T, class U>
concept Is = std::is_same_v<std::remove_const_t<T>, U>;

/// Names of enum values, in enumerator order.
template <class E> struct EnumNames;
template <> struct EnumNames<DType> { static constexpr std::array<std::string_view, 3> names{"bf16", "fp16", "fp32"}; };
template <> struct EnumNames<Pass> {
  static constexpr std::array<std::string_view, 3> names{"forward", "backward", "both"};
};
template <> struct EnumNames<PartitionKind> {
  static constexpr std::array<std::string_view, 4> names{"contiguous", "zigzag", "striped", "heads"};
};
template <> struct EnumNames<BufferRole> {
  static constexpr std::array<std::string_view, 11> names{"q",       "kv",      "out",    "lse",
                                                          "partial_out", "partial_lse", "grad_out", "grad_q",
                                                          "grad_kv", "activation", "workspace"};
};
template <> struct EnumNames<Stream> {
  static constexpr std::array<std::string_view, 4> names{"compute", "comm", "compute_aux", "comm_aux"};
};
template <> struct EnumNames<Mask> { static constexpr std::array<std::string_view, 3> names{"full", "partial", "skip"}; };

template <class V, class T> requires Is<T, Chunk>
void describe(V& v, T& c) { v("start", c.start); v("length", c.length); v("stride", c.stride); }
template <class V, class T> requires Is<T, TokenSet>
void describe(V& v, T& t) { v("chunks", t.chunks); }
template <class V, class T> requires Is<T, TokenSlice>
void describe(V& v, T& t) {
  v("buffer", t.buffer); v("token_offset", t.token_offset); v("tokens", t.tokens); v("positions", t.positions);
}
template <class V, class T> requires Is<T, ByteSlice>
void describe(V& v, T& t) { v("buffer", t.buffer); v("offset", t.offset); v("bytes", t.bytes); }
template <class V, class T> requires Is<T, Attend>
void describe(V& v, T& a) {
  v("q", a.q); v("kv", a.kv); v("out", a.out); v("lse", a.lse); v("out_offset", a.out_offset);
  v("head_begin", a.head_begin); v("heads", a.heads); v("mask", a.mask); v("flops", a.flops);
}
template <class V, class T> requires Is<T, AttendGrad>
void describe(V& v, T& a) {
  v("q", a.q); v("kv", a.kv); v("out", a.out); v("lse", a.lse); v("grad_out", a.grad_out); v("grad_q", a.grad_q);
  v("grad_kv", a.grad_kv); v("grad_kv_offset", a.grad_kv_offset); v("head_begin", a.head_begin);
  v("heads", a.heads); v("mask", a.mask); v("flops", a.flops);
}
template <class V, class T> requires Is<T, Merge>
void describe(V& v, T& m) {
  v("out", m.out); v("lse", m.lse); v("partial_out", m.partial_out); v("partial_lse", m.partial_lse);
  v("offset", m.offset); v("partial_offset", m.partial_offset); v("rows", m.rows); v("head_begin", m.head_begin);
  v("heads", m.heads);
}
template <class V, class T> requires (Is<T, Send> || Is<T, Recv>)
void describe(V& v, T& s) { v("peer", s.peer); v("data", s.data); v("tag", s.tag); }
template <class V, class T> requires Is<T, Copy>
void describe(V& v, T& c) { v("src", c.src); v("dst", c.dst); }
template <class V, class T> requires Is<T, Reduce>
void describe(V& v, T& r) { v("src", r.src); v("dst", r.dst); v("dtype", r.dtype); }
template <class V, class T> requires Is<T, Gemm>
void describe(V& v, T& g) {
  v("m", g.m); v("n", g.n); v("k", g.k); v("a", g.a); v("b", g.b); v("c", g.c); v("flops", g.flops);
}
/// An op's common fields; its kind is handled by each visitor (a "kind" name plus the alternative's fields).
template <class V, class T> requires Is<T, Op>
void describe(V& v, T& o) { v("id", o.id); v("stream", o.stream); v("phase", o.phase); v("group", o.group); v("deps", o.deps); }
template <class V, class T> requires Is<T, Buffer>
void describe(V& v, T& b) {
  v("name", b.name); v("role", b.role); v("dtype", b.dtype); v("tokens", b.tokens); v("bytes", b.bytes);
}
template <class V, class T> requires Is<T, RankProgram>
void describe(V& v, T& r) { v("buffers", r.buffers); v("ops", r.ops); }
template <class V, class T> requires Is<T, Workload>
void describe(V& v, T& w) {
  v("batch", w.batch); v("seq_len", w.seq_len); v("q_heads", w.q_heads); v("kv_heads", w.kv_heads);
  v("head_dim", w.head_dim); v("dtype", w.dtype); v("causal", w.causal); v("pass", w.pass); v("window", w.window);
  v("dilation", w.dilation);
}
template <class V, class T> requires Is<T, Partition>
void describe(V& v, T& p) { v("kind", p.kind); v("owned", p.owned); }
template <class V, class T> requires Is<T, Schedule>
void describe(V& v, T& s) {
  v("variant", s.variant); v("workload", s.workload); v("partition", s.partition); v("token_sets", s.token_sets);
  v("ranks", s.ranks);
}

/// Names of the op kinds, in variant order.
inline constexpr std::array<std::string_view, std::variant_size_v<OpKind>> kKindNames{
    "attend", "attend_grad", "merge", "send", "recv", "copy", "reduce", "gemm"};

}  // namespace ringlab::ir::detail
