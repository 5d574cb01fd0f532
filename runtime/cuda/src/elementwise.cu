// The memory-bound kernels: the log-sum-exp merge, fills, dtype conversions and reduce. They use
// no tensor cores and compile for every architecture the toolkit offers.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "convert.cuh"
#include "kernels.cuh"

namespace ringlab::runtime::cuda::kern {

namespace {


constexpr int kThreads = 256;

unsigned blocks_for(std::int64_t n, int per_block) {
  const std::int64_t b = (n + per_block - 1) / per_block;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

// One warp per (row, batch, head): lanes stride the head dimension (coalesced), every lane reads
// both LSEs before lane 0 writes the new one.
template <typename T>
__global__ void merge_kernel(const MergeParams p) {
  const std::int64_t warps = static_cast<std::int64_t>(p.rows) * p.batch * p.heads;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * (blockDim.x / 32);
  for (std::int64_t w = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; w < warps;
       w += stride) {
    const int hh = static_cast<int>(w % p.heads);
    const int b = static_cast<int>((w / p.heads) % p.batch);
    const int r = static_cast<int>(w / (static_cast<std::int64_t>(p.heads) * p.batch));
    const int h = p.head_begin + hh;
    float* l1p = p.lse + r * p.l_tok + b * p.l_batch + h * p.l_head;
    const float l1 = *l1p;
    const float l2 = p.plse[r * p.pl_tok + b * p.pl_batch + h * p.pl_head];
    T* o1 = static_cast<T*>(p.o) + r * p.o_tok + b * p.o_batch + static_cast<std::int64_t>(h) * p.d;
    const T* o2 = static_cast<const T*>(p.po) + r * p.po_tok + b * p.po_batch + static_cast<std::int64_t>(h) * p.d;
    if (l2 == -INFINITY) continue;  // the partial saw no key: the accumulator stands
    float w1 = 0.0F, w2 = 1.0F, l = l2;
    if (l1 != -INFINITY) {  // otherwise the accumulator is empty: take the partial as is
      const float m = fmaxf(l1, l2);
      l = m + logf(expf(l1 - m) + expf(l2 - m));
      w1 = expf(l1 - l);
      w2 = expf(l2 - l);
    }
    for (int x = lane; x < p.d; x += 32) o1[x] = from_f<T>(w1 * to_f(o1[x]) + w2 * to_f(o2[x]));
    __syncwarp();
    if (lane == 0) *l1p = l;
  }
}

__global__ void fill_kernel(float* dst, std::int64_t n, float value) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = value;
}
template <typename T>
__global__ void from_f32_kernel(const float* src, T* dst, std::int64_t n) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = from_f<T>(src[i]);
}
template <typename T>
__global__ void to_f32_kernel(const T* src, float* dst, std::int64_t n) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = to_f(src[i]);
}
template <typename T>
__global__ void reduce_kernel(const T* src, T* dst, std::int64_t n) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = from_f<T>(to_f(dst[i]) + to_f(src[i]));
}

}  // namespace

cudaError_t launch_merge(const MergeParams& p, ElemType t, cudaStream_t stream) {
  const std::int64_t warps = static_cast<std::int64_t>(p.rows) * p.batch * p.heads;
  if (warps <= 0) return cudaSuccess;
  const unsigned grid = blocks_for(warps, kThreads / 32);
  switch (t) {
    case ElemType::bf16: merge_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(p); break;
    case ElemType::fp16: merge_kernel<__half><<<grid, kThreads, 0, stream>>>(p); break;
    case ElemType::fp32: merge_kernel<float><<<grid, kThreads, 0, stream>>>(p); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_fill_f32(float* dst, std::int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  fill_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(dst, n, value);
  return cudaGetLastError();
}

cudaError_t launch_from_f32(const float* src, void* dst, ElemType t, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const unsigned grid = blocks_for(n, kThreads);
  switch (t) {
    case ElemType::bf16: from_f32_kernel<<<grid, kThreads, 0, stream>>>(src, static_cast<__nv_bfloat16*>(dst), n); break;
    case ElemType::fp16: from_f32_kernel<<<grid, kThreads, 0, stream>>>(src, static_cast<__half*>(dst), n); break;
    case ElemType::fp32: from_f32_kernel<<<grid, kThreads, 0, stream>>>(src, static_cast<float*>(dst), n); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_to_f32(const void* src, ElemType t, float* dst, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const unsigned grid = blocks_for(n, kThreads);
  switch (t) {
    case ElemType::bf16: to_f32_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(src), dst, n); break;
    case ElemType::fp16: to_f32_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const __half*>(src), dst, n); break;
    case ElemType::fp32: to_f32_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(src), dst, n); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_reduce(const void* src, void* dst, ElemType t, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const unsigned grid = blocks_for(n, kThreads);
  switch (t) {
    case ElemType::bf16:
      reduce_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(src), static_cast<__nv_bfloat16*>(dst), n);
      break;
    case ElemType::fp16:
      reduce_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const __half*>(src), static_cast<__half*>(dst), n);
      break;
    case ElemType::fp32:
      reduce_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(src), static_cast<float*>(dst), n);
      break;
  }
  return cudaGetLastError();
}

}  // namespace ringlab::runtime::cuda::kern
