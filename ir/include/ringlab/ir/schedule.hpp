#pragma once
// The schedule IR: the contract between generators, the validator, the simulator and the runtime.
// Plain value types only. See docs/ir.md for the semantics every executor must honour.
#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "ringlab/core/units.hpp"

namespace ringlab::ir {

/// Element type of Q, K, V, O (LSE and gradient accumulators may be fp32, see Buffer::dtype).
enum class DType : std::uint8_t { bf16, fp16, fp32 };
/// Which pass of attention a schedule computes.
enum class Pass : std::uint8_t { forward, backward, both };
/// How the sequence is cut into per-rank chunks.
enum class PartitionKind : std::uint8_t { contiguous, zigzag, striped, heads };
/// What a buffer holds; the memory model and the runtime's allocator read the same list.
enum class BufferRole : std::uint8_t {
  q,            ///< queries [tokens][q_heads][head_dim]
  kv,           ///< keys then values, each [tokens][kv_heads][head_dim] (a ring slot or gathered KV)
  out,          ///< attention output accumulator [tokens][q_heads][head_dim]
  lse,          ///< log-sum-exp accumulator, fp32 [q_heads][tokens]
  partial_out,  ///< one block's partial output, merged into `out`
  partial_lse,  ///< one block's partial log-sum-exp
  grad_out,     ///< dO (backward)
  grad_q,       ///< dQ accumulator (backward)
  grad_kv,      ///< dK,dV accumulator, same layout as kv (backward)
  activation,   ///< input/output of non-attention compute (GEMMs of a whole layer)
  workspace     ///< scratch space
};
/// The stream an op is issued on; ops of one stream run in issue order.
enum class Stream : std::uint8_t { compute, comm, compute_aux, comm_aux };
/// How the q tokens of an Attend relate to its kv tokens under the workload's mask.
enum class Mask : std::uint8_t {
  full,     ///< every (q, k) pair is attended (e.g. a block from an earlier rank under causal)
  partial,  ///< causal / window / dilation masks cut the block: apply per-element (e.g. a diagonal)
  skip      ///< no pair is attended: no FLOPs, the op only keeps the phase structure visible
};

/// A run of global token positions: start, start+stride, ... (`length` of them).
struct Chunk {
  std::int64_t start = 0;   ///< first global token position
  std::int64_t length = 0;  ///< number of tokens
  std::int64_t stride = 1;  ///< distance between consecutive tokens (1 = contiguous, P = striped)
  friend bool operator==(const Chunk&, const Chunk&) = default;
};
/// The global positions of a buffer's tokens, in buffer order (concatenation of chunks).
struct TokenSet {
  std::vector<Chunk> chunks;  ///< in order; tokens of chunk 0 come first in the buffer
  friend bool operator==(const TokenSet&, const TokenSet&) = default;
};

/// Index of a buffer in its rank's buffer list.
using BufferId = std::uint32_t;
/// Index of a token set in Schedule::token_sets.
using TokenSetId = std::uint32_t;
/// Index of an op in its rank's program (op ids are dense: ops[i].id == i).
using OpId = std::uint32_t;

/// Tokens [token_offset, token_offset + tokens) of a token-laid-out buffer, whose global positions are
/// the token set `positions`.
struct TokenSlice {
  BufferId buffer = 0;          ///< which buffer
  std::int64_t token_offset = 0;  ///< first token row used
  std::int64_t tokens = 0;        ///< number of token rows
  TokenSetId positions = 0;     ///< global positions of exactly those rows
  friend bool operator==(const TokenSlice&, const TokenSlice&) = default;
};
/// A byte range of a buffer (what send/recv/copy move).
struct ByteSlice {
  BufferId buffer = 0;    ///< which buffer
  Bytes offset{0};        ///< first byte
  Bytes bytes{0};         ///< length
  friend bool operator==(const ByteSlice&, const ByteSlice&) = default;
};

/// One block of attention: q rows against kv rows, writing a (partial) output and its LSE.
/// Heads [head_begin, head_begin + heads) of the query heads (GQA maps them to kv heads).
struct Attend {
  TokenSlice q;                 ///< query rows
  TokenSlice kv;                ///< key/value rows
  BufferId out = 0;             ///< output written (row-aligned with q)
  BufferId lse = 0;             ///< log-sum-exp written (row-aligned with q)
  std::int64_t out_offset = 0;  ///< first row of out/lse written
  std::int32_t head_begin = 0;  ///< first query head
  std::int32_t heads = 0;       ///< number of query heads
  Mask mask = Mask::full;       ///< relation of the two token sets under the workload's mask
  Flops flops{0};               ///< forward FLOPs, FlashAttention convention (see docs/ir.md)
  friend bool operator==(const Attend&, const Attend&) = default;
};
/// Backward of one block: reads q, kv, out, lse, dO; accumulates dQ and dK,dV.
struct AttendGrad {
  TokenSlice q;                  ///< query rows
  TokenSlice kv;                 ///< key/value rows
  BufferId out = 0;              ///< forward output rows (for D = rowsum(dO*O))
  BufferId lse = 0;              ///< forward log-sum-exp
  BufferId grad_out = 0;         ///< dO rows
  BufferId grad_q = 0;           ///< dQ accumulator (row-aligned with q)
  BufferId grad_kv = 0;          ///< dK,dV accumulator (row-aligned with kv)
  std::int64_t grad_kv_offset = 0;  ///< first row of grad_kv accumulated
  std::int32_t head_begin = 0;   ///< first query head
  std::int32_t heads = 0;        ///< number of query heads
  Mask mask = Mask::full;        ///< as in Attend
  Flops flops{0};                ///< backward FLOPs (2.5 x forward by convention)
  friend bool operator==(const AttendGrad&, const AttendGrad&) = default;
};
/// Online-softmax combine: (out, lse) <- merge((out, lse), (partial_out, partial_lse)) by
/// log-sum-exp, over `rows` rows starting at row `offset` of out/lse. Never a plain sum.
struct Merge {
  BufferId out = 0;            ///< accumulator output
  BufferId lse = 0;            ///< accumulator log-sum-exp
  BufferId partial_out = 0;    ///< partial output to fold in
  BufferId partial_lse = 0;    ///< its log-sum-exp
  std::int64_t offset = 0;     ///< first accumulator row
  std::int64_t partial_offset = 0;  ///< first partial row
  std::int64_t rows = 0;       ///< rows merged
  std::int32_t head_begin = 0;  ///< first query head
  std::int32_t heads = 0;       ///< number of query heads
  friend bool operator==(const Merge&, const Merge&) = default;
};
/// Sends `data` to rank `peer`; matches the Recv on `peer` with the same source, tag and bytes.
struct Send {
  std::int32_t peer = 0;    ///< destination rank
  ByteSlice data;           ///< bytes sent
  std::uint32_t tag = 0;    ///< matching key (with source and destination)
  friend bool operator==(const Send&, const Send&) = default;
};
/// Receives into `data` from rank `peer`.
struct Recv {
  std::int32_t peer = 0;    ///< source rank
  ByteSlice data;           ///< bytes written
  std::uint32_t tag = 0;    ///< matching key
  friend bool operator==(const Recv&, const Recv&) = default;
};
/// Local copy between (or within) buffers of one rank.
struct Copy {
  ByteSlice src;  ///< bytes read
  ByteSlice dst;  ///< bytes written (same length)
  friend bool operator==(const Copy&, const Copy&) = default;
};
/// dst += src elementwise (gradient accumulation); `src.bytes` of `dtype` elements.
struct Reduce {
  ByteSlice src;              ///< addend
  ByteSlice dst;              ///< accumulator
  DType dtype = DType::fp32;  ///< element type of both
  friend bool operator==(const Reduce&, const Reduce&) = default;
};
/// A dense GEMM (m x k) * (k x n) for non-attention compute of a whole layer.
struct Gemm {
  std::int64_t m = 0, n = 0, k = 0;  ///< shape
  BufferId a = 0, b = 0, c = 0;      ///< operands and result
  Flops flops{0};                    ///< 2*m*n*k
  friend bool operator==(const Gemm&, const Gemm&) = default;
};

/// What an op does.
using OpKind = std::variant<Attend, AttendGrad, Merge, Send, Recv, Copy, Reduce, Gemm>;

/// One op of a rank's program.
struct Op {
  OpId id = 0;                 ///< its index in the rank's program
  Stream stream = Stream::compute;  ///< the stream it is issued on
  std::uint32_t phase = 0;     ///< ring step (or phase of the variant) it belongs to
  std::uint32_t group = 0;     ///< 0, or a group id: consecutive ops of one stream sharing it launch together
  boost::container::small_vector<OpId, 2> deps;  ///< ops of this rank that must finish first
  OpKind kind;                 ///< the work
  friend bool operator==(const Op&, const Op&) = default;
};

/// A named allocation of one rank.
struct Buffer {
  std::string name;              ///< unique within the rank
  BufferRole role = BufferRole::workspace;  ///< what it holds
  DType dtype = DType::bf16;     ///< element type
  std::int64_t tokens = 0;       ///< token rows (0 for buffers that are not token-laid-out)
  Bytes bytes{0};                ///< size
  friend bool operator==(const Buffer&, const Buffer&) = default;
};

/// One rank's buffers and program.
struct RankProgram {
  std::vector<Buffer> buffers;  ///< allocations, referenced by index
  std::vector<Op> ops;          ///< in issue order
  friend bool operator==(const RankProgram&, const RankProgram&) = default;
};

/// The attention being computed.
struct Workload {
  std::int64_t batch = 1;       ///< B
  std::int64_t seq_len = 0;     ///< L, global tokens
  std::int64_t q_heads = 0;     ///< H
  std::int64_t kv_heads = 0;    ///< G (divides H; G < H is GQA)
  std::int64_t head_dim = 0;    ///< d
  DType dtype = DType::bf16;    ///< element type of Q, K, V, O
  bool causal = false;          ///< causal mask
  Pass pass = Pass::forward;    ///< which pass
  std::int64_t window = 0;      ///< sliding window (0 = none): q attends k with q - window < k <= q
  std::int64_t dilation = 1;    ///< LongNet-style dilation factor (1 = dense)
  friend bool operator==(const Workload&, const Workload&) = default;
};

/// Which tokens each rank owns.
struct Partition {
  PartitionKind kind = PartitionKind::contiguous;  ///< the scheme
  std::vector<TokenSetId> owned;                   ///< per rank: the token set it owns
  friend bool operator==(const Partition&, const Partition&) = default;
};

/// A complete schedule: what every rank allocates and issues.
struct Schedule {
  std::string variant;                 ///< generator that built it (ring, ring_serial, allgather, ...)
  Workload workload;                   ///< the attention computed
  Partition partition;                 ///< token ownership
  std::vector<TokenSet> token_sets;    ///< every token set the ops refer to
  std::vector<RankProgram> ranks;      ///< one per rank
  friend bool operator==(const Schedule&, const Schedule&) = default;
};

/// Bytes per element of a dtype.
[[nodiscard]] constexpr std::int64_t element_bytes(DType t) noexcept { return t == DType::fp32 ? 4 : 2; }
/// Number of tokens in a token set.
[[nodiscard]] std::int64_t token_count(const TokenSet& set) noexcept;
/// Short name of an op kind ("attend", "send", ...), as in files and traces.
[[nodiscard]] const char* kind_name(const OpKind& kind) noexcept;
/// FLOPs of an op (0 for data movement).
[[nodiscard]] Flops op_flops(const OpKind& kind) noexcept;
/// Bytes an op puts on the wire (Send only) — a transfer counts once, at its sender.
[[nodiscard]] Bytes op_wire_bytes(const OpKind& kind) noexcept;

/// Totals of one rank, as `ringlab schedule` prints them.
struct RankTotals {
  std::int64_t ops = 0;        ///< ops in the program
  std::int64_t attends = 0;    ///< Attend ops that are not skipped
  std::int64_t sends = 0;      ///< Send ops
  Bytes sent{0};               ///< bytes sent
  Bytes received{0};           ///< bytes received
  Flops flops{0};              ///< FLOPs of all compute ops
  Bytes memory{0};             ///< sum of buffer sizes
  std::uint32_t phases = 0;    ///< 1 + highest phase
};
/// Totals of rank `r`.
[[nodiscard]] RankTotals rank_totals(const Schedule& s, std::size_t r);

}  // namespace ringlab::ir
