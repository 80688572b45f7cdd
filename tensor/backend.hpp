// The kernel interface each device implements (tensor/cpu for the host, cuda/ for GPUs): the
// argument types here, the kernels themselves listed once in tensor/kernel_table.hpp.
// The op front end (tensor/ops_*.cpp) checks arguments, computes shapes and layouts, allocates the
// output and makes exactly one Backend call per op: dispatch once per op, never per element.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tensor/device.hpp"
#include "tensor/dtype.hpp"
#include "tensor/element_ops.hpp"
#include "tensor/kernel_table.hpp"
#include "tensor/layout.hpp"
#include "tensor/philox.hpp"

namespace ddpm {

class Allocator;

// What a kernel sees of a tensor: the storage's base pointer, its dtype and a strided layout.
// Element k (row-major over layout.sizes) lives at ((T*)data)[layout.at(k)].
struct TensorRef {
  void* data = nullptr;
  DType dtype = DType::Float32;
  Layout layout;
};

// A kernel's scratch buffer as a TensorRef: `data` holding a contiguous row-major array of `sizes`.
inline TensorRef contiguous_ref(void* data, DType dtype, std::initializer_list<int64_t> sizes) {
  TensorRef r;
  r.data = data;
  r.dtype = dtype;
  r.layout.ndim = int32_t(sizes.size());
  int64_t stride = 1;
  for (int d = r.layout.ndim - 1; d >= 0; --d) {
    r.layout.sizes[d] = sizes.begin()[d];
    r.layout.strides[d] = stride;
    stride *= r.layout.sizes[d];
  }
  r.layout.contiguous = true;
  return r;
}

// Row-major batched GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], C[b] is [m, n].
// op(A) is [m, k]: A[b][i, p] = a[b * stride_a + i * lda + p], or a[... + p * lda + i] if trans_a.
// Pointers already include the tensors' offsets. A batch stride of 0 broadcasts that operand; a C
// batch stride of 0 (with batch > 1) reduces the batch into one C: C = alpha sum_b op(A[b]) op(B[b]) + beta C.
struct GemmArgs {
  DType dtype = DType::Float32;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const void* a = nullptr; int64_t lda = 0, stride_a = 0; bool trans_a = false;
  const void* b = nullptr; int64_t ldb = 0, stride_b = 0; bool trans_b = false;
  void* c = nullptr; int64_t ldc = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;
};

// The geometry of a 2-D convolution over [B, C, H, W] with a kh x kw kernel (dilation 1).
// out_h = (H + 2 pad_h - kh) / stride_h + 1, likewise out_w.
struct ConvGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t out_h = 0, out_w = 0;
};

// Hyper-parameters of one AdamW step (Loshchilov & Hutter), bias corrections already computed:
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (wd p + (m / bc1) / (sqrt(v / bc2) + eps)).
struct AdamWStep {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  double bias_correction1 = 1.0, bias_correction2 = 1.0;  // 1 - beta^t
};

// A device: its allocator, host transfers and the kernels of tensor/kernel_table.hpp. Every kernel
// is pure virtual, so a backend that lacks one cannot be instantiated.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Allocator& allocator() = 0;
  // Host <-> this device, contiguous bytes. For the CPU these are memcpy.
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;
  // Waits until every kernel launched so far has finished (and reports a deferred error).
  virtual void synchronize() = 0;

  // The kernels, one per entry of the table (their semantics are there).
  DDPM_BACKEND_KERNELS(DDPM_PURE_VIRTUAL_KERNEL)
};

Backend& backend(Device device);
Backend& cpu_backend();
// What tensor/ asks of the CUDA runtime, through the CUDA library (cuda/cuda_context.hpp).
struct CudaRuntimeHooks {
  int (*device_count)() = nullptr;
  const char* (*unavailable_reason)() = nullptr;
  bool (*failed_to_start)() = nullptr;
  void (*bind_device)(int index) = nullptr;
};
// The CUDA library calls this at start-up (a static initializer linked with WHOLE_ARCHIVE).
void register_cuda_backend(Backend* backend, const CudaRuntimeHooks& hooks);

}  // namespace ddpm
