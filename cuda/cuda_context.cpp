// The CUDA backend's process-wide state: allocator, stream, cuBLAS handle, device queries and the
// index ops' error buffer. Objects are created on first use and deliberately never destroyed.
#include "cuda/cuda_context.hpp"

#include <algorithm>
#include <stdexcept>

#include "cuda/cuda_check.hpp"
#include "tensor/macros.hpp"

namespace ddpm::gpu {

int device_count() noexcept {
  static const int count = [] {
    int n = 0;
    // Without a driver this returns cudaErrorInsufficientDriver or cudaErrorNoDevice: that means
    // "no GPU here", not a failure. Clear the error so a later call does not report it.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

namespace {

void* raw_cuda_alloc(size_t nbytes) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, nbytes);
  if (err == cudaErrorMemoryAllocation) {
    // Out of memory is not sticky; clear it and return null so the CachingAllocator can give its
    // cached blocks back to the driver and try again.
    (void)cudaGetLastError();
    return nullptr;
  }
  if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
  return p;
}

void raw_cuda_free(void* p) {
  cudaError_t err = cudaFree(p);  // synchronises the device, so no kernel still uses p
  if (err == cudaErrorCudartUnloading) return;  // the process is exiting; the driver frees it all
  if (err != cudaSuccess) throw_cuda_error(err, "cudaFree", __FILE__, __LINE__);
}

}  // namespace

Allocator& allocator() {
  // Never destroyed, like cpu_allocator(): a tensor in a static object may be freed after any
  // destruction order we could pick, and cudaFree during static destruction may find the runtime gone.
  static CachingAllocator* alloc = new CachingAllocator(raw_cuda_alloc, raw_cuda_free);
  return *alloc;
}

cudaStream_t stream() {
  // A blocking stream (not cudaStreamNonBlocking): it still orders itself after anything put on the
  // legacy default stream, which costs nothing here and protects code that uses cudaMemcpy directly.
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    DDPM_CUDA_CHECK(cudaStreamCreate(&created));
    return created;
  }();
  return s;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    DDPM_CUBLAS_CHECK(cublasCreate(&created));
    DDPM_CUBLAS_CHECK(cublasSetStream(created, stream()));
    // The default math mode keeps float32 GEMMs in full FP32 (no TF32), so results match the CPU.
    return created;
  }();
  return h;
}

std::mutex& cublas_mutex() {
  static std::mutex m;
  return m;
}

int sm_count() {
  static const int count = [] {
    int n = 0;
    DDPM_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0));
    return std::max(n, 1);
  }();
  return count;
}

unsigned grid_for(int64_t n, int threads) {
  // 2048 resident threads per SM on sm_80/sm_90; allow a few waves so uneven blocks balance out.
  const int64_t max_blocks = int64_t(sm_count()) * (2048 / threads) * 4;
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(std::max<int64_t>(1, std::min(blocks, max_blocks)));
}

namespace {

std::mutex& index_error_mutex() {
  static std::mutex m;
  return m;
}

unsigned long long* index_error_buffer() {
  // Two words, allocated once and never freed (16 bytes; see allocator() for why nothing is freed).
  static unsigned long long* buf = [] {
    void* p = nullptr;
    DDPM_CUDA_CHECK(cudaMalloc(&p, 2 * sizeof(unsigned long long)));
    return static_cast<unsigned long long*>(p);
  }();
  return buf;
}

}  // namespace

IndexErrorGuard::IndexErrorGuard() : lock_(index_error_mutex()), flag_(index_error_buffer()) {
  DDPM_CUDA_CHECK(cudaMemsetAsync(flag_, 0, 2 * sizeof(unsigned long long), stream()));
}

void IndexErrorGuard::throw_if_set(const char* op, int dim, int64_t size) {
  unsigned long long host[2] = {0, 0};
  DDPM_CUDA_CHECK(cudaMemcpyAsync(host, flag_, sizeof(host), cudaMemcpyDeviceToHost, stream()));
  DDPM_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (host[0] != 0) {
    const int64_t index = static_cast<int64_t>(host[1]);
    throw std::out_of_range(::ddpm::str(op, ": index ", index, " is out of range for dim ", dim, " of size ",
                                        size, " (valid range [0, ", size, "))"));
  }
}

}  // namespace ddpm::gpu
