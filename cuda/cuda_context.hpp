// Process-wide CUDA state of the backend: the caching allocator, the one stream every kernel and copy
// runs on, the cuBLAS handle bound to it, and launch geometry. Everything is created on first use.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "tensor/allocator.hpp"

namespace ddpm::gpu {

// Number of visible GPUs; 0 (never an exception) when there is no driver or no device, so that a
// machine without a GPU can ask. The answer is computed once.
int device_count() noexcept;

// A CachingAllocator over cudaMalloc/cudaFree. Blocks freed by one tensor are reused by the next
// without synchronising: every kernel runs on stream(), so stream order already guarantees the old
// tensor's last kernel finished reading before the new tensor's first kernel writes.
Allocator& allocator();

// The single stream all work goes on (created lazily, never destroyed: static destructors may run
// after the CUDA runtime has shut down).
cudaStream_t stream();

// The cuBLAS handle, bound to stream(). cuBLAS handles are not safe to use from two host threads at
// once; callers hold cublas_mutex() while they use it.
cublasHandle_t cublas_handle();
std::mutex& cublas_mutex();

// Number of streaming multiprocessors of device 0, for sizing grids.
int sm_count();

// Threads per block for the elementwise kernels.
constexpr int kBlockThreads = 256;

// Blocks for a grid-stride loop over n items with `threads` per block: enough to fill the GPU a few
// times over, never more than there are items. n must be > 0.
unsigned grid_for(int64_t n, int threads = kBlockThreads);

// The index ops' out-of-range report. Kernels skip a bad index (so memory is never corrupted) and
// record it in a small device buffer; the host copies the buffer back after the kernel and throws.
// Holding a guard serialises index ops from different host threads around the shared buffer.
class IndexErrorGuard {
 public:
  IndexErrorGuard();  // locks and clears the buffer (on the stream)
  // The device buffer the kernel writes: [0] = 1 once any index was bad, [1] = that index.
  unsigned long long* flag() const { return flag_; }
  // Copies the buffer back (synchronises the stream) and throws std::out_of_range if it was set.
  void throw_if_set(const char* op, int dim, int64_t size);

 private:
  std::unique_lock<std::mutex> lock_;
  unsigned long long* flag_;
};

}  // namespace ddpm::gpu
