// The CUDA Backend: forwards each kernel of tensor/kernel_table.hpp to its kernel file, and registers itself with
// tensor's dispatch at start-up (the library is linked whole, so this initializer always runs).
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernels.hpp"
#include "tensor/backend.hpp"
#include "tensor/host_sync.hpp"

namespace ddpm {

namespace {

class CudaBackend final : public Backend {
 public:
  Allocator& allocator() override { return gpu::allocator(); }

  // From pageable host memory (all of ours: the CPU allocator's blocks) cudaMemcpyAsync returns once
  // the bytes are staged, so the caller may free its buffer at once and nothing waits for the GPU.
  // A pinned source is read later, by DMA: then the copy is waited for, as the caller may reuse it.
  void copy_from_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes == 0) return;
    DDPM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, gpu::stream()));
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, src) != cudaSuccess) (void)cudaGetLastError();
    if (attr.type == cudaMemoryTypeHost) DDPM_CUDA_CHECK(cudaStreamSynchronize(gpu::stream()));
  }
  // The caller reads the buffer next: wait for the copy, and report any index error recorded so far.
  void copy_to_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes == 0) return;
    DDPM_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, gpu::stream()));
    gpu::synchronize_and_check();
  }
  void synchronize() override {
    count_synchronize();
    gpu::synchronize_and_check();
  }

  // Every kernel of tensor/kernel_table.hpp, forwarded to its ddpm::gpu function.
  DDPM_BACKEND_KERNELS(DDPM_FORWARD_TO_GPU)
};

Backend* cuda_backend_instance() {
  // Never destroyed, for the same reason as the allocator: tensors in static objects may outlive it.
  static CudaBackend* instance = new CudaBackend();
  return instance;
}

// Runs before main(). It must not touch the CUDA runtime: on a machine without a driver that would
// fail, and on one with a GPU it would pay for context creation in programs that never use it.
// device_count is only called later, when someone asks whether CUDA is available.
struct RegisterCudaBackend {
  RegisterCudaBackend() {
    CudaRuntimeHooks hooks;
    hooks.device_count = &gpu::device_count;
    hooks.unavailable_reason = &gpu::unavailable_reason;
    hooks.failed_to_start = &gpu::failed_to_start;
    hooks.bind_device = &gpu::bind_device;
    register_cuda_backend(cuda_backend_instance(), hooks);
  }
};
RegisterCudaBackend register_cuda_backend_at_startup;

}  // namespace

}  // namespace ddpm
