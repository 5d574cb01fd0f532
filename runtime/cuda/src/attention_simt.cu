// Block attention forward without tensor cores: the fp32 path (any element type, fp32 arithmetic),
// for fp32 workloads and for GPUs before sm_80 (Pascal GTX 1080 is sm_61: no tensor cores, no bf16
// arithmetic; bf16/fp16 values are converted to fp32 on load). Also the dispatcher launch_attend.
//
// One CTA per (32-query tile, head, batch): four threads share a query row, each owning every
// fourth dimension (so the four read four consecutive shared-memory words: no bank conflicts), and
// reduce their partial dot products with two shuffles. K,V tiles are staged as fp32 in shared
// memory; the online softmax is rescaled once per tile.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "convert.cuh"
#include "kernels.cuh"

namespace ringlab::runtime::cuda::kern {

cudaError_t launch_attend_mma(const AttendParams& p, ElemType t, cudaStream_t stream);  // attention_mma.cu

namespace {

constexpr int kRows = 32;        // query rows per CTA
constexpr int kSub = 4;          // threads per row
constexpr int kThreads = kRows * kSub;
constexpr float kLog2e = 1.4426950408889634F;
constexpr float kLn2 = 0.6931471805599453F;


__device__ __forceinline__ bool attended(const AttendParams& p, int q, int k) {
  if (p.causal) return k <= q && (p.window == 0 || q - p.window < k);
  if (p.window > 0) return q - p.window < k && k < q + p.window;
  return true;
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(kThreads) attend_simt_kernel(const AttendParams p) {
  constexpr int KT = DMAX <= 128 ? 32 : 16;  // keys per tile: 32 KB of K,V in shared memory
  constexpr int NI = DMAX / kSub;
  __shared__ float ks[KT][DMAX];
  __shared__ float vs[KT][DMAX];
  __shared__ int kps[KT];

  const int tid = static_cast<int>(threadIdx.x);
  const int sub = tid & (kSub - 1);
  const int row = static_cast<int>(blockIdx.x) * kRows + tid / kSub;
  const int h = p.head_begin + static_cast<int>(blockIdx.y);
  const int b = static_cast<int>(blockIdx.z);
  const int kvh = h / p.group;
  const int d = p.d;
  const bool live = row < p.tq;

  const T* qg = static_cast<const T*>(p.q) + b * p.q_batch + static_cast<std::int64_t>(h) * d;
  const T* kg = static_cast<const T*>(p.k) + b * p.k_batch + static_cast<std::int64_t>(kvh) * d;
  const T* vg = static_cast<const T*>(p.v) + b * p.k_batch + static_cast<std::int64_t>(kvh) * d;

  float q[NI], acc[NI];
#pragma unroll
  for (int i = 0; i < NI; ++i) {
    const int x = sub + kSub * i;
    q[i] = (live && x < d) ? to_f(qg[static_cast<std::int64_t>(row) * p.q_tok + x]) : 0.0F;
    acc[i] = 0.0F;
  }
  const int qpos = (live && p.masked) ? p.q_pos[row] : 0;
  const float sl2 = p.scale * kLog2e;
  float m = -INFINITY, l = 0.0F;

  for (int n0 = 0; n0 < p.tk; n0 += KT) {
    __syncthreads();  // the previous tile is consumed
    for (int i = tid; i < KT * d; i += kThreads) {
      const int r = i / d, x = i % d;
      const bool ok = n0 + r < p.tk;
      const std::int64_t off = static_cast<std::int64_t>(n0 + r) * p.k_tok + x;
      ks[r][x] = ok ? to_f(kg[off]) : 0.0F;
      vs[r][x] = ok ? to_f(vg[off]) : 0.0F;
    }
    if (tid < KT) kps[tid] = (p.masked && n0 + tid < p.tk) ? p.k_pos[n0 + tid] : 0;
    __syncthreads();

    float s[KT];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < KT; ++j) {
      float dot = 0.0F;
#pragma unroll
      for (int i = 0; i < NI; ++i) {
        const int x = sub + kSub * i;
        if (x < d) dot = fmaf(q[i], ks[j][x], dot);
      }
      dot += __shfl_xor_sync(0xffffffffU, dot, 1);
      dot += __shfl_xor_sync(0xffffffffU, dot, 2);
      const bool vis = n0 + j < p.tk && (!p.masked || attended(p, qpos, kps[j]));
      s[j] = vis ? dot * sl2 : -INFINITY;
      mx = fmaxf(mx, s[j]);
    }
    const float m_new = fmaxf(m, mx);
    const float m_use = m_new == -INFINITY ? 0.0F : m_new;
    const float alpha = exp2f(m - m_use);
    m = m_new;
    float sum = 0.0F;
#pragma unroll
    for (int j = 0; j < KT; ++j) {
      s[j] = exp2f(s[j] - m_use);
      sum += s[j];
    }
    l = l * alpha + sum;
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int x = sub + kSub * i;
      float a = acc[i] * alpha;
      if (x < d) {
#pragma unroll
        for (int j = 0; j < KT; ++j) a = fmaf(s[j], vs[j][x], a);
      }
      acc[i] = a;
    }
  }
  if (!live) return;
  const float inv = l > 0.0F ? 1.0F / l : 0.0F;
  T* og = static_cast<T*>(p.o) + b * p.o_batch + static_cast<std::int64_t>(h) * d + static_cast<std::int64_t>(row) * p.o_tok;
#pragma unroll
  for (int i = 0; i < NI; ++i) {
    const int x = sub + kSub * i;
    if (x < d) og[x] = from_f<T>(acc[i] * inv);
  }
  if (sub == 0) {
    p.lse[b * p.l_batch + static_cast<std::int64_t>(h) * p.l_head + static_cast<std::int64_t>(row) * p.l_tok] =
        l > 0.0F ? (m + log2f(l)) * kLn2 : -INFINITY;
  }
}

template <typename T>
cudaError_t launch_simt(const AttendParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.tq + kRows - 1) / kRows), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  if (p.d <= 64) {
    attend_simt_kernel<T, 64><<<grid, kThreads, 0, stream>>>(p);
  } else if (p.d <= 128) {
    attend_simt_kernel<T, 128><<<grid, kThreads, 0, stream>>>(p);
  } else {
    attend_simt_kernel<T, 256><<<grid, kThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_attend(const AttendParams& p, ElemType t, int sm, bool force_simt, cudaStream_t stream,
                          AttendPath* path) {
  if (p.d < 1 || p.d > 256 || p.tq < 0 || p.tk < 0 || p.heads < 0 || p.batch < 1 || p.group < 1) {
    return cudaErrorInvalidValue;
  }
  if (p.tq == 0 || p.heads == 0) return cudaSuccess;
  if (p.heads > 65535 || p.batch > 65535) return cudaErrorInvalidConfiguration;
  if (!force_simt && tensor_core_eligible(p, t, sm)) {
    if (path != nullptr) *path = AttendPath::tensor_core;
    return launch_attend_mma(p, t, stream);
  }
  if (path != nullptr) *path = AttendPath::simt;
  switch (t) {
    case ElemType::bf16: return launch_simt<__nv_bfloat16>(p, stream);
    case ElemType::fp16: return launch_simt<__half>(p, stream);
    case ElemType::fp32: return launch_simt<float>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ringlab::runtime::cuda::kern
