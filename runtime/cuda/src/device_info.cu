#include <cuda_runtime.h>
#include <nccl.h>

#include <vector>

#include "ringlab/runtime/cuda/device_info.hpp"

namespace ringlab::runtime::cuda {

namespace {
__global__ void add_kernel(const float* a, const float* b, float* c, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) c[i] = a[i] + b[i];
}
}  // namespace

DeviceInfo query_devices() {
  DeviceInfo info;
  int version = 0;
  if (ncclGetVersion(&version) == ncclSuccess) info.nccl_version = version;
  const cudaError_t err = cudaGetDeviceCount(&info.device_count);
  if (err != cudaSuccess) {
    info.device_count = 0;
    info.error = cudaGetErrorString(err);
    return info;
  }
  if (info.device_count > 0) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) info.first_device = prop.name;
  }
  return info;
}

bool smoke_test() {
  constexpr int n = 256;
  std::vector<float> a(n), b(n), c(n, -1.0f);
  for (int i = 0; i < n; ++i) {
    a[static_cast<std::size_t>(i)] = static_cast<float>(i);
    b[static_cast<std::size_t>(i)] = 2.0f * static_cast<float>(i);
  }
  float *da = nullptr, *db = nullptr, *dc = nullptr;
  const auto bytes = sizeof(float) * n;
  bool ok = cudaMalloc(&da, bytes) == cudaSuccess && cudaMalloc(&db, bytes) == cudaSuccess &&
            cudaMalloc(&dc, bytes) == cudaSuccess;
  ok = ok && cudaMemcpy(da, a.data(), bytes, cudaMemcpyHostToDevice) == cudaSuccess;
  ok = ok && cudaMemcpy(db, b.data(), bytes, cudaMemcpyHostToDevice) == cudaSuccess;
  if (ok) {
    add_kernel<<<1, n>>>(da, db, dc, n);
    ok = cudaGetLastError() == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess;
  }
  ok = ok && cudaMemcpy(c.data(), dc, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  for (int i = 0; ok && i < n; ++i) ok = c[static_cast<std::size_t>(i)] == 3.0f * static_cast<float>(i);
  return ok;
}

}  // namespace ringlab::runtime::cuda
