// The CUDA Backend: forwards each Backend method to its kernel file, and registers itself with
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

  void copy(TensorRef dst, TensorRef src) override { gpu::copy(dst, src); }
  void fill(TensorRef dst, double value) override { gpu::fill(dst, value); }

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

  void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b) override { gpu::unary(op, out, in, a, b); }
  void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y) override { gpu::binary(op, out, x, y); }
  void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first) override {
    gpu::binary_scalar(op, out, x, s, scalar_first);
  }
  void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y) override { gpu::where(out, cond, x, y); }

  void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) override {
    gpu::reduce(op, out, in, inner, correction);
  }
  void softmax(TensorRef out, TensorRef in, int64_t inner, bool log) override { gpu::softmax(out, in, inner, log); }
  void gemm(const GemmArgs& args) override { gpu::gemm(args); }

  void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim) override {
    gpu::index_select(out, in, idx, dim);
  }
  void gather(TensorRef out, TensorRef in, TensorRef idx, int dim) override { gpu::gather(out, in, idx, dim); }
  void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim) override { gpu::index_add(out, idx, src, dim); }
  void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim) override {
    gpu::scatter_add(out, idx, src, dim);
  }

  void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b) override {
    gpu::random(dist, out, seed, offset, a, b);
  }

  void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g) override { gpu::im2col(cols, image, g); }
  void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g) override { gpu::col2im(image, cols, g); }
  void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, TensorRef bias,
                          int64_t groups, double eps) override {
    gpu::group_norm_forward(y, mean, rstd, x, weight, bias, groups, eps);
  }
  void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                           TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups) override {
    gpu::group_norm_backward(dx, dweight, dbias, dy, x, mean, rstd, weight, groups);
  }

  void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                  const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step) override {
    gpu::adamw_step(params, grads, m, v, step);
  }
  void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay) override {
    gpu::ema_update(ema, params, decay);
  }
  void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors) override {
    gpu::sum_of_squares(out, tensors);
  }
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
