#pragma once
// CUDA_CHECK / NCCL_CHECK (NCCL's src/include/checks.h shape): a failed call throws CudaError naming
// the call, file and line; the _OP forms also name the rank and the op. Private to runtime/cuda.
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "ringlab/runtime/cuda/cuda_backend.hpp"

#define CUDA_CHECK(call)                                                                                   \
  do {                                                                                                     \
    const cudaError_t ringlab_err_ = (call);                                                               \
    if (ringlab_err_ != cudaSuccess) {                                                                     \
      throw ::ringlab::runtime::cuda::CudaError(#call, cudaGetErrorString(ringlab_err_), __FILE__, __LINE__, \
                                                -1, "");                                                   \
    }                                                                                                      \
  } while (0)

// In a scope that has `describe(rank, id)` (the backend's Impl).
#define CUDA_CHECK_OP(call, rank, id)                                                                      \
  do {                                                                                                     \
    const cudaError_t ringlab_err_ = (call);                                                               \
    if (ringlab_err_ != cudaSuccess) {                                                                     \
      throw ::ringlab::runtime::cuda::CudaError(#call, cudaGetErrorString(ringlab_err_), __FILE__, __LINE__, \
                                                (rank), describe((rank), (id)));                           \
    }                                                                                                      \
  } while (0)

// ncclInProgress is not a failure: non-blocking communicators return it while work is enqueued.
#define NCCL_CHECK_AT(call, rank, what)                                                                    \
  do {                                                                                                     \
    const ncclResult_t ringlab_res_ = (call);                                                              \
    if (ringlab_res_ != ncclSuccess && ringlab_res_ != ncclInProgress) {                                   \
      throw ::ringlab::runtime::cuda::CudaError(                                                           \
          #call, std::string(ncclGetErrorString(ringlab_res_)) + " (" + ncclGetLastError(nullptr) + ")",   \
          __FILE__, __LINE__, (rank), (what));                                                             \
    }                                                                                                      \
  } while (0)
#define NCCL_CHECK(call) NCCL_CHECK_AT(call, -1, "")
#define NCCL_CHECK_OP(call, rank, id) NCCL_CHECK_AT(call, rank, describe((rank), (id)))
