// Process-wide CUDA state of the backend: the caching allocator, the one stream every kernel and copy
// runs on, the cuBLAS handle bound to it, and launch geometry. Everything is created on first use.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

#include "tensor/allocator.hpp"

namespace ddpm::gpu {

// Number of visible GPUs, computed once; 0 (never an exception) when there is none, so that a
// machine without a GPU can ask. Then unavailable_reason() says why: no driver library, no device, or
// (failed_to_start() true) CUDA is installed but could not start, with the error named: a fault to fix,
// not a machine without a GPU.
int device_count() noexcept;
const char* unavailable_reason() noexcept;
bool failed_to_start() noexcept;

// Makes GPU `index` current for the calling thread. The first call chooses the process's GPU; a later
// call with another index throws (one GPU per process). tensor/backend.cpp calls it once per thread.
void bind_device(int index);
// The GPU chosen by bind_device (0 before any).
int active_device();

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

// Number of streaming multiprocessors of the active GPU, for sizing grids.
int sm_count();

// Threads per block for the elementwise kernels.
constexpr int kBlockThreads = 256;

// Blocks for a grid-stride loop over n items with `threads` per block: enough to fill the GPU a few
// times over, never more than there are items. n must be > 0.
unsigned grid_for(int64_t n, int threads = kBlockThreads);

// The index ops' out-of-range report, checked without a wait of its own. A kernel that meets a bad
// index skips it (memory is never corrupted) and records the first one in a device buffer: the op,
// the index, the dim and its size. The host reads the record at its next wait for the stream anyway
// (synchronize_and_check: Backend::synchronize and every copy to the host) and throws
// std::out_of_range there, naming the op. With DDPM_CUDA_SYNC_CHECKS=1 in the environment every index
// op waits and checks at once instead, to stop at the op that failed (in a debugger, say).
enum class IndexOp : unsigned long long { IndexSelect = 1, Gather, IndexAdd, ScatterAdd };
struct IndexErrorSink {
  unsigned long long* record;  // on the device: [0] op (0 while clear), [1] index, [2] dim, [3] size
  unsigned long long op;
};
IndexErrorSink index_error_sink(IndexOp op);
void after_index_op();  // after an index op's launch: checks now only under DDPM_CUDA_SYNC_CHECKS=1

// Waits for the stream, then throws if an index op recorded an error since the last check (and
// clears the record). Every wait of the backend goes through here, except the one after an upload
// from pinned host memory (cuda_backend.cpp), which leaves the record for the next check.
void synchronize_and_check();

}  // namespace ddpm::gpu
