// Host-side access to the kernels for tests and benchmarks (attention.hpp): device 0, plain vectors.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "check.hpp"
#include "kernels.cuh"
#include "ringlab/runtime/cuda/attention.hpp"

namespace ringlab::runtime::cuda {

namespace {

kern::ElemType elem(ir::DType t) {
  return t == ir::DType::bf16 ? kern::ElemType::bf16 : t == ir::DType::fp16 ? kern::ElemType::fp16 : kern::ElemType::fp32;
}

/// A device allocation freed on scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) { CUDA_CHECK(cudaMalloc(&p_, std::max<std::size_t>(bytes, 1))); }
  ~DeviceBuffer() { (void)cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T = void>
  [[nodiscard]] T* get() const noexcept {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
};

/// Uploads floats into a device buffer of dtype t (rounded as the dtype rounds).
void upload(const std::vector<float>& host, void* dst, kern::ElemType t) {
  DeviceBuffer tmp(host.size() * sizeof(float));
  CUDA_CHECK(cudaMemcpy(tmp.get(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(kern::launch_from_f32(tmp.get<float>(), dst, t, static_cast<std::int64_t>(host.size()), nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
}
std::vector<float> download(const void* src, kern::ElemType t, std::size_t n) {
  DeviceBuffer tmp(n * sizeof(float));
  CUDA_CHECK(kern::launch_to_f32(src, t, tmp.get<float>(), static_cast<std::int64_t>(n), nullptr));
  std::vector<float> host(n);
  CUDA_CHECK(cudaMemcpy(host.data(), tmp.get(), n * sizeof(float), cudaMemcpyDeviceToHost));
  return host;
}

int device_sm(std::string* name = nullptr) {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  if (name != nullptr) *name = fmt::format("{} (sm_{}{})", prop.name, prop.major, prop.minor);
  return prop.major * 10 + prop.minor;
}

bool increasing(const std::vector<std::int32_t>& v) {
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i] <= v[i - 1]) return false;
  return true;
}

kern::AttendParams params(const BlockProblem& p, std::int64_t tq, std::int64_t tk) {
  const std::int64_t B = p.batch, H = p.q_heads, G = p.kv_heads, d = p.head_dim;
  kern::AttendParams k;
  k.q_tok = B * H * d;
  k.q_batch = H * d;
  k.k_tok = B * 2 * G * d;
  k.k_batch = 2 * G * d;
  k.o_tok = B * H * d;
  k.o_batch = H * d;
  k.l_tok = B * H;
  k.l_batch = H;
  k.l_head = 1;
  k.tq = static_cast<int>(tq);
  k.tk = static_cast<int>(tk);
  k.batch = static_cast<int>(B);
  k.heads = static_cast<int>(H);
  k.group = static_cast<int>(H / G);
  k.d = static_cast<int>(d);
  k.masked = (p.causal || p.window > 0) ? 1 : 0;
  k.causal = p.causal ? 1 : 0;
  k.window = static_cast<int>(p.window);
  k.k_sorted = increasing(p.k_positions) ? 1 : 0;
  k.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  return k;
}

void check_problem(const BlockProblem& p) {
  if (p.batch < 1 || p.q_heads < 1 || p.kv_heads < 1 || p.q_heads % p.kv_heads != 0 || p.head_dim < 1 ||
      p.head_dim > 256) {
    throw Error(fmt::format("bad block shape: B {} H {} G {} d {}", p.batch, p.q_heads, p.kv_heads, p.head_dim));
  }
}

}  // namespace

BlockResult run_block(const BlockProblem& p, const std::vector<float>& q, const std::vector<float>& kv) {
  check_problem(p);
  const auto tq = static_cast<std::int64_t>(p.q_positions.size());
  const auto tk = static_cast<std::int64_t>(p.k_positions.size());
  const std::int64_t B = p.batch, H = p.q_heads, G = p.kv_heads, d = p.head_dim;
  if (static_cast<std::int64_t>(q.size()) != tq * B * H * d || static_cast<std::int64_t>(kv.size()) != tk * B * 2 * G * d) {
    throw Error(fmt::format("run_block: q has {} values (want {}), kv {} (want {})", q.size(), tq * B * H * d, kv.size(),
                            tk * B * 2 * G * d));
  }
  const auto t = elem(p.dtype);
  const auto e = static_cast<std::size_t>(kern::elem_bytes(t));
  DeviceBuffer dq(q.size() * e), dkv(kv.size() * e), dout(static_cast<std::size_t>(tq * B * H * d) * e),
      dlse(static_cast<std::size_t>(tq * B * H) * sizeof(float)), dqp(p.q_positions.size() * 4),
      dkp(p.k_positions.size() * 4);
  upload(q, dq.get(), t);
  upload(kv, dkv.get(), t);
  CUDA_CHECK(cudaMemcpy(dqp.get(), p.q_positions.data(), p.q_positions.size() * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dkp.get(), p.k_positions.data(), p.k_positions.size() * 4, cudaMemcpyHostToDevice));
  // Poison: all-ones bytes are NaN in bf16, fp16 and fp32 alike.
  CUDA_CHECK(cudaMemset(dout.get(), 0xFF, static_cast<std::size_t>(tq * B * H * d) * e));
  CUDA_CHECK(cudaMemset(dlse.get(), 0xFF, static_cast<std::size_t>(tq * B * H) * sizeof(float)));
  auto k = params(p, tq, tk);
  k.q = dq.get();
  k.k = dkv.get();
  k.v = dkv.get<char>() + static_cast<std::size_t>(G * d) * e;
  k.o = dout.get();
  k.lse = dlse.get<float>();
  k.q_pos = dqp.get<std::int32_t>();
  k.k_pos = dkp.get<std::int32_t>();
  kern::AttendPath path = kern::AttendPath::simt;
  CUDA_CHECK(kern::launch_attend(k, t, device_sm(), p.force_simt, nullptr, &path));
  CUDA_CHECK(cudaDeviceSynchronize());
  BlockResult r;
  r.out = download(dout.get(), t, static_cast<std::size_t>(tq * B * H * d));
  r.lse = download(dlse.get(), kern::ElemType::fp32, static_cast<std::size_t>(tq * B * H));
  r.kernel = path == kern::AttendPath::tensor_core ? "tensor_core" : "simt";
  return r;
}

std::pair<std::vector<float>, std::vector<float>> run_merge(std::int64_t rows, std::int64_t batch, std::int64_t heads,
                                                            std::int64_t head_dim, ir::DType dtype,
                                                            const std::vector<float>& out, const std::vector<float>& lse,
                                                            const std::vector<float>& partial_out,
                                                            const std::vector<float>& partial_lse) {
  const auto n_out = static_cast<std::size_t>(rows * batch * heads * head_dim);
  const auto n_lse = static_cast<std::size_t>(rows * batch * heads);
  if (out.size() != n_out || partial_out.size() != n_out || lse.size() != n_lse || partial_lse.size() != n_lse) {
    throw Error("run_merge: array sizes do not match the shape");
  }
  const auto t = elem(dtype);
  const auto e = static_cast<std::size_t>(kern::elem_bytes(t));
  DeviceBuffer o(n_out * e), po(n_out * e), l(n_lse * 4), pl(n_lse * 4);
  upload(out, o.get(), t);
  upload(partial_out, po.get(), t);
  upload(lse, l.get(), kern::ElemType::fp32);
  upload(partial_lse, pl.get(), kern::ElemType::fp32);
  kern::MergeParams m;
  m.o = o.get();
  m.po = po.get();
  m.lse = l.get<float>();
  m.plse = pl.get<float>();
  m.o_tok = m.po_tok = batch * heads * head_dim;
  m.o_batch = m.po_batch = heads * head_dim;
  m.l_tok = m.pl_tok = batch * heads;
  m.l_batch = m.pl_batch = heads;
  m.l_head = m.pl_head = 1;
  m.rows = static_cast<int>(rows);
  m.batch = static_cast<int>(batch);
  m.heads = static_cast<int>(heads);
  m.d = static_cast<int>(head_dim);
  CUDA_CHECK(kern::launch_merge(m, t, nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
  return {download(o.get(), t, n_out), download(l.get(), kern::ElemType::fp32, n_lse)};
}

KernelTiming time_block(std::int64_t tokens, std::int64_t batch, std::int64_t q_heads, std::int64_t kv_heads,
                        std::int64_t head_dim, ir::DType dtype, bool causal, int warmup, int iterations, bool force_simt) {
  BlockProblem p;
  p.batch = batch;
  p.q_heads = q_heads;
  p.kv_heads = kv_heads;
  p.head_dim = head_dim;
  p.dtype = dtype;
  p.causal = causal;
  p.force_simt = force_simt;
  check_problem(p);
  p.q_positions.resize(static_cast<std::size_t>(tokens));
  for (std::size_t i = 0; i < p.q_positions.size(); ++i) p.q_positions[i] = static_cast<std::int32_t>(i);
  p.k_positions = p.q_positions;
  const auto t = elem(dtype);
  const auto e = static_cast<std::size_t>(kern::elem_bytes(t));
  const auto nq = static_cast<std::size_t>(tokens * batch * q_heads * head_dim);
  const auto nkv = static_cast<std::size_t>(tokens * batch * 2 * kv_heads * head_dim);
  DeviceBuffer dq(nq * e), dkv(nkv * e), dout(nq * e), dlse(static_cast<std::size_t>(tokens * batch * q_heads) * 4),
      dpos(p.q_positions.size() * 4);
  {
    std::mt19937 gen(12345);
    std::uniform_real_distribution<float> u(-1.0F, 1.0F);
    std::vector<float> hq(nq), hkv(nkv);
    for (auto& x : hq) x = u(gen);
    for (auto& x : hkv) x = u(gen);
    upload(hq, dq.get(), t);
    upload(hkv, dkv.get(), t);
  }
  CUDA_CHECK(cudaMemcpy(dpos.get(), p.q_positions.data(), p.q_positions.size() * 4, cudaMemcpyHostToDevice));
  auto k = params(p, tokens, tokens);
  k.q = dq.get();
  k.k = dkv.get();
  k.v = dkv.get<char>() + static_cast<std::size_t>(kv_heads * head_dim) * e;
  k.o = dout.get();
  k.lse = dlse.get<float>();
  k.q_pos = dpos.get<std::int32_t>();
  k.k_pos = dpos.get<std::int32_t>();
  KernelTiming timing;
  const int sm = device_sm(&timing.device);
  kern::AttendPath path = kern::AttendPath::simt;
  cudaEvent_t a = nullptr, b = nullptr;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) CUDA_CHECK(kern::launch_attend(k, t, sm, force_simt, nullptr, &path));
  CUDA_CHECK(cudaDeviceSynchronize());
  for (int i = 0; i < iterations; ++i) {
    CUDA_CHECK(cudaEventRecord(a, nullptr));
    CUDA_CHECK(kern::launch_attend(k, t, sm, force_simt, nullptr, &path));
    CUDA_CHECK(cudaEventRecord(b, nullptr));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0.0F;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    timing.seconds.push_back(static_cast<double>(ms) * 1e-3);
  }
  (void)cudaEventDestroy(a);
  (void)cudaEventDestroy(b);
  timing.kernel = path == kern::AttendPath::tensor_core ? "tensor_core" : "simt";
  return timing;
}

}  // namespace ringlab::runtime::cuda
