// Block attention forward on tensor cores (sm_80+): FlashAttention-2 tiling (Dao 2023) with
// mma.sync.m16n8k16 (bf16/fp16 in, fp32 accumulate), ldmatrix from XOR-swizzled shared memory,
// cp.async 128-bit loads double-buffering K,V, and the online softmax kept in registers.
//
// One CTA per (128-query tile, head, batch); 4 warps, each owns 32 query rows (two m16 atoms) and
// sweeps the K,V tiles of 64 keys. Causal/window masks come from the global positions of the rows
// (the IR's token sets), so contiguous, zigzag and striped blocks all work; tiles entirely masked are
// skipped, tiles entirely visible skip the per-element test.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cmath>

#include "kernels.cuh"

namespace ringlab::runtime::cuda::kern {

namespace {

constexpr int kBM = 128;     // query rows per CTA
constexpr int kBN = 64;      // keys per tile
constexpr int kWarps = 4;    // warps per CTA
constexpr int kThreads = kWarps * 32;
constexpr int kMA = 2;       // m16 atoms per warp (32 rows)
constexpr float kLog2e = 1.4426950408889634F;
constexpr float kLn2 = 0.6931471805599453F;

template <int D>
constexpr int smem_bytes() {
  return (kBM * D + 4 * kBN * D) * 2;  // Q + 2 stages of K and V, 16-bit elements
}

// Element offset of (row, col) in a [rows][D] tile of 16-bit elements whose 16-byte chunks are
// XOR-swizzled by row, so the 8 rows an ldmatrix reads fall into 8 different bank groups.
template <int D>
__device__ __forceinline__ int swz(int row, int col) {
  return row * D + ((((col >> 3) ^ (row & 7))) << 3);
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int n = pred ? 16 : 0;  // 0: zero-fill the 16 bytes (rows past the end)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
#else
  (void)smem;
  (void)gmem;
  (void)pred;
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ void ldsm_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(a));
#else
  (void)p;
  r0 = r1 = r2 = r3 = 0;
#endif
}
__device__ __forceinline__ void ldsm_x4_t(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(a));
#else
  (void)p;
  r0 = r1 = r2 = r3 = 0;
#endif
}

template <typename T>
struct Mma;
template <>
struct Mma<__nv_bfloat16> {
  __device__ __forceinline__ static void run(float* c, const unsigned* a, unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)c;
    (void)a;
    (void)b0;
    (void)b1;
#endif
  }
  __device__ __forceinline__ static unsigned pack(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
  }
  __device__ __forceinline__ static void store2(__nv_bfloat16* p, float lo, float hi) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(lo, hi);
  }
};
template <>
struct Mma<__half> {
  __device__ __forceinline__ static void run(float* c, const unsigned* a, unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)c;
    (void)a;
    (void)b0;
    (void)b1;
#endif
  }
  __device__ __forceinline__ static unsigned pack(float lo, float hi) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
  }
  __device__ __forceinline__ static void store2(__half* p, float lo, float hi) {
    *reinterpret_cast<__half2*>(p) = __floats2half2_rn(lo, hi);
  }
};

__device__ __forceinline__ bool attended(const AttendParams& p, int q, int k) {
  if (p.causal) return k <= q && (p.window == 0 || q - p.window < k);
  if (p.window > 0) return q - p.window < k && k < q + p.window;
  return true;
}

/// Tile classes: every pair visible, some visible, none visible.
enum TileClass : int { kVisible = 0, kPartial = 1, kHidden = 2 };

/// Classifies keys [n0, n0 + kBN) against queries with positions in [qmin, qmax]. Every warp
/// computes the same answer (warp-local shuffles), so the CTA branches uniformly without a barrier.
/// `beyond` is set when every key lies after qmax (with sorted keys, so will every later tile).
__device__ __forceinline__ int classify(const AttendParams& p, int n0, int qmin, int qmax, bool& beyond) {
  beyond = false;
  if (!p.masked) return n0 + kBN > p.tk ? kPartial : kVisible;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  int kmin = 0x7fffffff, kmax = -0x7fffffff;
  for (int i = lane; i < kBN; i += 32) {
    if (n0 + i < p.tk) {
      const int k = p.k_pos[n0 + i];
      kmin = min(kmin, k);
      kmax = max(kmax, k);
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    kmin = min(kmin, __shfl_xor_sync(0xffffffffU, kmin, o));
    kmax = max(kmax, __shfl_xor_sync(0xffffffffU, kmax, o));
  }
  bool none = false, all = false;
  if (p.causal) {
    beyond = kmin > qmax;
    none = beyond || (p.window > 0 && kmax <= qmin - p.window);
    all = kmax <= qmin && (p.window == 0 || kmin > qmax - p.window);
  } else if (p.window > 0) {
    none = kmin >= qmax + p.window || kmax <= qmin - p.window;
    all = kmax < qmin + p.window && kmin > qmax - p.window;
  } else {
    all = true;
  }
  if (none) return kHidden;
  if (!all || n0 + kBN > p.tk) return kPartial;
  return kVisible;
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) attend_mma_kernel(const AttendParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // never launched below sm_80 (tensor_core_eligible); the helpers compile to no-ops there
#endif
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sq = reinterpret_cast<T*>(smem_raw);
  T* sk = sq + kBM * D;          // [2][kBN][D]
  T* sv = sk + 2 * kBN * D;      // [2][kBN][D]

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int q0 = static_cast<int>(blockIdx.x) * kBM;
  const int h = p.head_begin + static_cast<int>(blockIdx.y);
  const int b = static_cast<int>(blockIdx.z);
  const int kvh = h / p.group;

  const T* qg = static_cast<const T*>(p.q) + b * p.q_batch + static_cast<std::int64_t>(h) * D;
  const T* kg = static_cast<const T*>(p.k) + b * p.k_batch + static_cast<std::int64_t>(kvh) * D;
  const T* vg = static_cast<const T*>(p.v) + b * p.k_batch + static_cast<std::int64_t>(kvh) * D;
  T* og = static_cast<T*>(p.o) + b * p.o_batch + static_cast<std::int64_t>(h) * D;
  float* lg = p.lse + b * p.l_batch + static_cast<std::int64_t>(h) * p.l_head;

  // Range of the tile's query positions (for tile classification).
  int qmin = 0x7fffffff, qmax = -0x7fffffff;
  if (p.masked) {
    for (int i = lane; i < kBM; i += 32) {
      if (q0 + i < p.tq) {
        const int qp = p.q_pos[q0 + i];
        qmin = min(qmin, qp);
        qmax = max(qmax, qp);
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      qmin = min(qmin, __shfl_xor_sync(0xffffffffU, qmin, o));
      qmax = max(qmax, __shfl_xor_sync(0xffffffffU, qmax, o));
    }
  }
  // Positions of this thread's rows: atom mi, rows g and g + 8.
  int qp[kMA][2];
  for (int mi = 0; mi < kMA; ++mi)
    for (int r = 0; r < 2; ++r) {
      const int row = q0 + warp * 32 + mi * 16 + g + r * 8;
      qp[mi][r] = (p.masked && row < p.tq) ? p.q_pos[row] : 0;
    }

  const int ntiles = (p.tk + kBN - 1) / kBN;
  auto next_live = [&](int j, int& cls) {
    for (; j < ntiles; ++j) {
      bool beyond = false;
      cls = classify(p, j * kBN, qmin, qmax, beyond);
      if (cls != kHidden) return j;
      if (beyond && p.k_sorted) return ntiles;
    }
    return ntiles;
  };
  auto load_kv = [&](int j, int stage) {
    const int n0 = j * kBN;
    T* dk = sk + stage * kBN * D;
    T* dv = sv + stage * kBN * D;
    for (int i = tid; i < kBN * (D / 8); i += kThreads) {
      const int r = i / (D / 8), c = (i % (D / 8)) * 8;
      const bool ok = n0 + r < p.tk;
      const std::int64_t off = ok ? static_cast<std::int64_t>(n0 + r) * p.k_tok + c : 0;
      cp_async16(dk + swz<D>(r, c), kg + off, ok);
      cp_async16(dv + swz<D>(r, c), vg + off, ok);
    }
  };

  float acc[kMA][D / 8][4];
  for (int mi = 0; mi < kMA; ++mi)
    for (int nb = 0; nb < D / 8; ++nb)
      for (int e = 0; e < 4; ++e) acc[mi][nb][e] = 0.0F;
  float mrow[kMA][2], lrow[kMA][2];
  for (int mi = 0; mi < kMA; ++mi)
    for (int r = 0; r < 2; ++r) {
      mrow[mi][r] = -INFINITY;
      lrow[mi][r] = 0.0F;
    }
  const float sl2 = p.scale * kLog2e;

  int cls = kVisible;
  int j = next_live(0, cls);
  if (j < ntiles) {
    for (int i = tid; i < kBM * (D / 8); i += kThreads) {
      const int r = i / (D / 8), c = (i % (D / 8)) * 8;
      const bool ok = q0 + r < p.tq;
      cp_async16(sq + swz<D>(r, c), qg + (ok ? static_cast<std::int64_t>(q0 + r) * p.q_tok + c : 0), ok);
    }
    load_kv(j, 0);
    cp_async_commit();
  }
  int stage = 0;
  while (j < ntiles) {
    int cls_next = kVisible;
    const int jn = next_live(j + 1, cls_next);
    if (jn < ntiles) {
      load_kv(jn, stage ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* ks = sk + stage * kBN * D;
    const T* vs = sv + stage * kBN * D;

    // S = Q K^T for this warp's 32 rows and the tile's 64 keys.
    float s[kMA][kBN / 8][4];
    for (int mi = 0; mi < kMA; ++mi)
      for (int nb = 0; nb < kBN / 8; ++nb)
        for (int e = 0; e < 4; ++e) s[mi][nb][e] = 0.0F;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      unsigned a[kMA][4];
#pragma unroll
      for (int mi = 0; mi < kMA; ++mi) {
        const int row = warp * 32 + mi * 16 + (lane & 15);
        ldsm_x4(a[mi][0], a[mi][1], a[mi][2], a[mi][3], sq + swz<D>(row, kk * 16 + (lane >> 4) * 8));
      }
#pragma unroll
      for (int nb = 0; nb < kBN / 8; nb += 2) {
        unsigned b0, b1, b2, b3;
        const int key = nb * 8 + (lane & 7) + ((lane >> 4) << 3);
        ldsm_x4(b0, b1, b2, b3, ks + swz<D>(key, kk * 16 + ((lane >> 3) & 1) * 8));
#pragma unroll
        for (int mi = 0; mi < kMA; ++mi) {
          Mma<T>::run(s[mi][nb], a[mi], b0, b1);
          Mma<T>::run(s[mi][nb + 1], a[mi], b2, b3);
        }
      }
    }

    // Mask, then the online softmax (base 2, scores scaled by scale*log2(e)).
    if (cls == kPartial) {
      const int n0 = j * kBN;
#pragma unroll
      for (int nb = 0; nb < kBN / 8; ++nb) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int col = n0 + nb * 8 + 2 * t4 + e;
          const bool in = col < p.tk;
          const int kp = (in && p.masked) ? p.k_pos[col] : 0;
#pragma unroll
          for (int mi = 0; mi < kMA; ++mi)
#pragma unroll
            for (int r = 0; r < 2; ++r)
              if (!in || (p.masked && !attended(p, qp[mi][r], kp))) s[mi][nb][r * 2 + e] = -INFINITY;
        }
      }
    }
#pragma unroll
    for (int mi = 0; mi < kMA; ++mi) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int nb = 0; nb < kBN / 8; ++nb) mx = fmaxf(mx, fmaxf(s[mi][nb][r * 2], s[mi][nb][r * 2 + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffU, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffU, mx, 2));
        const float m_new = fmaxf(mrow[mi][r], mx * sl2);
        const float m_use = m_new == -INFINITY ? 0.0F : m_new;  // a row with nothing visible yet
        const float alpha = exp2f(mrow[mi][r] - m_use);
        mrow[mi][r] = m_new;
        float sum = 0.0F;
#pragma unroll
        for (int nb = 0; nb < kBN / 8; ++nb) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float pv = exp2f(fmaf(s[mi][nb][r * 2 + e], sl2, -m_use));
            s[mi][nb][r * 2 + e] = pv;
            sum += pv;
          }
        }
        lrow[mi][r] = lrow[mi][r] * alpha + sum;
#pragma unroll
        for (int nb = 0; nb < D / 8; ++nb) {
          acc[mi][nb][r * 2] *= alpha;
          acc[mi][nb][r * 2 + 1] *= alpha;
        }
      }
    }

    // O += P V: P's accumulator layout is the A-fragment layout of the next mma.
#pragma unroll
    for (int kc = 0; kc < kBN / 16; ++kc) {
      unsigned a[kMA][4];
#pragma unroll
      for (int mi = 0; mi < kMA; ++mi) {
        a[mi][0] = Mma<T>::pack(s[mi][2 * kc][0], s[mi][2 * kc][1]);
        a[mi][1] = Mma<T>::pack(s[mi][2 * kc][2], s[mi][2 * kc][3]);
        a[mi][2] = Mma<T>::pack(s[mi][2 * kc + 1][0], s[mi][2 * kc + 1][1]);
        a[mi][3] = Mma<T>::pack(s[mi][2 * kc + 1][2], s[mi][2 * kc + 1][3]);
      }
#pragma unroll
      for (int db = 0; db < D / 16; ++db) {
        unsigned b0, b1, b2, b3;
        ldsm_x4_t(b0, b1, b2, b3, vs + swz<D>(kc * 16 + (lane & 15), db * 16 + (lane >> 4) * 8));
#pragma unroll
        for (int mi = 0; mi < kMA; ++mi) {
          Mma<T>::run(acc[mi][2 * db], a[mi], b0, b1);
          Mma<T>::run(acc[mi][2 * db + 1], a[mi], b2, b3);
        }
      }
    }
    __syncthreads();  // the stage is refilled two tiles later
    j = jn;
    cls = cls_next;
    stage ^= 1;
  }

  // Epilogue: normalise, store O and the natural-log LSE (-inf and zeros for an empty row).
#pragma unroll
  for (int mi = 0; mi < kMA; ++mi) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = lrow[mi][r];
      l += __shfl_xor_sync(0xffffffffU, l, 1);
      l += __shfl_xor_sync(0xffffffffU, l, 2);
      const float inv = l > 0.0F ? 1.0F / l : 0.0F;
      const int row = q0 + warp * 32 + mi * 16 + g + r * 8;
      if (row < p.tq) {
        T* orow = og + static_cast<std::int64_t>(row) * p.o_tok;
#pragma unroll
        for (int nb = 0; nb < D / 8; ++nb)
          Mma<T>::store2(orow + nb * 8 + 2 * t4, acc[mi][nb][r * 2] * inv, acc[mi][nb][r * 2 + 1] * inv);
        if (t4 == 0) lg[static_cast<std::int64_t>(row) * p.l_tok] = l > 0.0F ? (mrow[mi][r] + log2f(l)) * kLn2 : -INFINITY;
      }
    }
  }
}

template <typename T, int D>
cudaError_t launch_typed(const AttendParams& p, cudaStream_t stream) {
  // The dynamic shared memory opt-in is per device; remember which devices have it.
  static std::atomic<unsigned long long> configured{0};
  int dev = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err != cudaSuccess) return err;
  const unsigned long long bit = 1ULL << (dev & 63);
  if ((configured.load(std::memory_order_acquire) & bit) == 0) {
    err = cudaFuncSetAttribute(attend_mma_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes<D>());
    if (err != cudaSuccess) return err;
    configured.fetch_or(bit, std::memory_order_acq_rel);
  }
  const dim3 grid(static_cast<unsigned>((p.tq + kBM - 1) / kBM), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  attend_mma_kernel<T, D><<<grid, kThreads, smem_bytes<D>(), stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

bool tensor_core_eligible(const AttendParams& p, ElemType t, int sm) noexcept {
  if (sm < 80 || t == ElemType::fp32 || (p.d != 64 && p.d != 128)) return false;
  auto aligned = [](const void* ptr) { return (reinterpret_cast<std::uintptr_t>(ptr) & 15U) == 0; };
  auto mult8 = [](std::int64_t x) { return x % 8 == 0; };
  return aligned(p.q) && aligned(p.k) && aligned(p.v) && aligned(p.o) && mult8(p.q_tok) && mult8(p.q_batch) &&
         mult8(p.k_tok) && mult8(p.k_batch) && mult8(p.o_tok) && mult8(p.o_batch);
}

cudaError_t launch_attend_mma(const AttendParams& p, ElemType t, cudaStream_t stream) {
  if (t == ElemType::bf16) {
    return p.d == 64 ? launch_typed<__nv_bfloat16, 64>(p, stream) : launch_typed<__nv_bfloat16, 128>(p, stream);
  }
  return p.d == 64 ? launch_typed<__half, 64>(p, stream) : launch_typed<__half, 128>(p, stream);
}

}  // namespace ringlab::runtime::cuda::kern
