// The kernel interface each device implements (tensor/cpu for the host, cuda/ for GPUs).
// The op front end (tensor/ops_*.cpp) checks arguments, computes shapes and layouts, allocates the
// output and makes exactly one Backend call per op: dispatch once per op, never per element.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/device.hpp"
#include "tensor/dtype.hpp"
#include "tensor/element_ops.hpp"
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

// Row-major batched GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], C[b] is [m, n].
// op(A) is [m, k]: A[b][i, p] = a[b * stride_a + i * lda + p], or a[... + p * lda + i] if trans_a.
// Pointers already include the tensors' offsets. A batch stride of 0 broadcasts that operand.
struct GemmArgs {
  DType dtype = DType::Float32;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const void* a = nullptr; int64_t lda = 0, stride_a = 0; bool trans_a = false;
  const void* b = nullptr; int64_t ldb = 0, stride_b = 0; bool trans_b = false;
  void* c = nullptr; int64_t ldc = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Allocator& allocator() = 0;

  // dst[k] = convert(src[k]) for every element; same numel, any dtypes and layouts.
  virtual void copy(TensorRef dst, TensorRef src) = 0;
  virtual void fill(TensorRef dst, double value) = 0;
  // Host <-> this device, contiguous bytes. For the CPU these are memcpy.
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void synchronize() = 0;

  // out[k] = f(in[k]); out and in have the same dtype (float32/float64, or ints for the int ops).
  virtual void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b) = 0;
  // out[k] = f(x[k], y[k]); x and y are already broadcast to out's sizes (stride 0) and share a
  // dtype. out is bool for comparisons, else x's dtype.
  virtual void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y) = 0;
  // out[k] = f(x[k], s), or f(s, x[k]) when scalar_first.
  virtual void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first) = 0;
  // out[k] = cond[k] ? x[k] : y[k]; cond is bool, all broadcast to out's sizes.
  virtual void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y) = 0;

  // in's layout has the reduced dims last, `inner` elements per output: out[o] = R(in[o*inner + r]).
  // out is contiguous with numel = in.numel / inner; int64 for ArgMax/ArgMin. Var divides by
  // inner - correction.
  virtual void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) = 0;
  // Softmax (or log-softmax) over the last dim of the layouts, which has `inner` elements.
  virtual void softmax(TensorRef out, TensorRef in, int64_t inner, bool log) = 0;
  virtual void gemm(const GemmArgs& args) = 0;

  // out = in with dim `dim` indexed by idx (int64, 1-D): out[.., j, ..] = in[.., idx[j], ..].
  // Throws std::out_of_range if an index is outside [0, in.sizes[dim]).
  virtual void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim) = 0;
  // out[.., j, ..] = in[.., idx[.., j, ..], ..] along dim; out and idx have the same sizes.
  virtual void gather(TensorRef out, TensorRef in, TensorRef idx, int dim) = 0;
  // The adjoints of the two above (for autograd): out[.., idx[j], ..] += src[.., j, ..], and
  // out[.., idx[.., j, ..], ..] += src[.., j, ..]. out must be contiguous.
  virtual void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim) = 0;
  virtual void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim) = 0;

  // Fills a contiguous out with philox_sample(dist, seed, offset, k, a, b) for each element k.
  virtual void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b) = 0;
};

Backend& backend(Device device);
Backend& cpu_backend();
// The CUDA library calls this at start-up (a static initializer linked with WHOLE_ARCHIVE).
void register_cuda_backend(Backend* backend, int (*device_count)());

}  // namespace ddpm
