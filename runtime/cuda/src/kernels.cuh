#pragma once
// Private to runtime/cuda: kernel parameters and their launchers. Included by the .cu files (nvcc,
// C++17) and by the host .cpp files (C++20), so it holds plain C++17 and CUDA runtime types only.
#include <cuda_runtime.h>

#include <cstdint>

namespace ringlab::runtime::cuda::kern {

/// Element type of a buffer (mirrors ir::DType without depending on the IR).
enum class ElemType : int { bf16 = 0, fp16 = 1, fp32 = 2 };

/// Bytes of one element.
constexpr int elem_bytes(ElemType t) noexcept { return t == ElemType::fp32 ? 4 : 2; }

/// One block of attention: rows of Q against rows of K,V (pointers already offset to the first row
/// used; strides in elements). Query head h reads KV head h / group. Layouts are token-major
/// (docs/ir.md): head stride d for q, k, v and o; lse has its own head stride.
struct AttendParams {
  const void* q = nullptr;  ///< q row 0, batch 0, head 0
  const void* k = nullptr;  ///< k row 0, batch 0, kv head 0
  const void* v = nullptr;  ///< v row 0, batch 0, kv head 0
  void* o = nullptr;        ///< output row 0, batch 0, head 0
  float* lse = nullptr;     ///< lse row 0, batch 0, head 0 (natural log)
  std::int64_t q_tok = 0, q_batch = 0;               ///< q strides
  std::int64_t k_tok = 0, k_batch = 0;               ///< k and v strides (shared)
  std::int64_t o_tok = 0, o_batch = 0;               ///< o strides
  std::int64_t l_tok = 0, l_batch = 0, l_head = 0;   ///< lse strides
  const std::int32_t* q_pos = nullptr;  ///< global position of each q row (device; used when masked)
  const std::int32_t* k_pos = nullptr;  ///< global position of each k row (device; used when masked)
  int tq = 0;          ///< q rows
  int tk = 0;          ///< k rows
  int batch = 1;       ///< B
  int head_begin = 0;  ///< first query head computed
  int heads = 0;       ///< query heads computed
  int group = 1;       ///< H / G
  int d = 0;           ///< head dim
  int masked = 0;      ///< apply the causal/window mask from the positions
  int causal = 0;      ///< causal mask (k <= q)
  int window = 0;      ///< 0 = none; causal: q - window < k; else |q - k| < window
  int k_sorted = 0;    ///< k positions strictly increase (a causal scan may stop early)
  float scale = 1.0F;  ///< softmax scale, 1/sqrt(d)
};

/// Which kernel launch_attend picked.
enum class AttendPath : int { tensor_core = 0, simt = 1 };

/// Whether the tensor-core (mma.sync) kernel can run `p` with `t` on a device of compute capability
/// `sm` (major*10+minor): sm >= 80, bf16/fp16, d in {64, 128}, 16-byte aligned rows.
bool tensor_core_eligible(const AttendParams& p, ElemType t, int sm) noexcept;
/// Launches block attention on `stream`: the tensor-core kernel when eligible (and not
/// `force_simt`), the fp32-accumulating SIMT kernel otherwise (any sm, d <= 256).
cudaError_t launch_attend(const AttendParams& p, ElemType t, int sm, bool force_simt, cudaStream_t stream,
                          AttendPath* path = nullptr);

/// Online-softmax merge of (po, plse) into (o, lse) over `rows` rows (pointers at row 0, head 0).
struct MergeParams {
  void* o = nullptr;            ///< accumulator output
  float* lse = nullptr;         ///< accumulator lse
  const void* po = nullptr;     ///< partial output
  const float* plse = nullptr;  ///< partial lse
  std::int64_t o_tok = 0, o_batch = 0;    ///< o strides (head stride d)
  std::int64_t po_tok = 0, po_batch = 0;  ///< po strides (head stride d)
  std::int64_t l_tok = 0, l_batch = 0, l_head = 0;     ///< lse strides
  std::int64_t pl_tok = 0, pl_batch = 0, pl_head = 0;  ///< plse strides
  int rows = 0;        ///< rows merged
  int batch = 1;       ///< B
  int head_begin = 0;  ///< first head
  int heads = 0;       ///< heads merged
  int d = 0;           ///< head dim
};
/// lse = log(exp(l1) + exp(l2)); O = exp(l1 - lse) O1 + exp(l2 - lse) O2; -inf on either side keeps
/// the other.
cudaError_t launch_merge(const MergeParams& p, ElemType t, cudaStream_t stream);

/// Sets n floats to `value`.
cudaError_t launch_fill_f32(float* dst, std::int64_t n, float value, cudaStream_t stream);
/// Converts n floats to elements of type t.
cudaError_t launch_from_f32(const float* src, void* dst, ElemType t, std::int64_t n, cudaStream_t stream);
/// Converts n elements of type t to floats.
cudaError_t launch_to_f32(const void* src, ElemType t, float* dst, std::int64_t n, cudaStream_t stream);
/// dst += src over n elements of type t (accumulated in fp32).
cudaError_t launch_reduce(const void* src, void* dst, ElemType t, std::int64_t n, cudaStream_t stream);

}  // namespace ringlab::runtime::cuda::kern
