// The kernel interface each device implements (tensor/cpu for the host, cuda/ for GPUs).
// The op front end (tensor/ops_*.cpp) checks arguments, computes shapes and layouts, allocates the
// output and makes exactly one Backend call per op: dispatch once per op, never per element.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

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

  // ---- Neural-network kernels (nn issue). A device that lacks one throws a clear error. --------
  // cols [B, C*kh*kw, out_h*out_w] from image [B, C, H, W] (both contiguous; zero padding).
  virtual void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g);
  // The adjoint: image [B, C, H, W] = the sum of every column entry that came from each pixel
  // (overwrites image).
  virtual void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g);
  // Group norm over x [B, C, HW] contiguous in G groups: y = (x - mean) * rstd * weight[c] + bias[c],
  // mean and rstd [B, G] saved for backward. weight/bias have data == nullptr when not affine.
  // (Layer norm over rows of N is the case B = rows, C = N, HW = 1, G = 1.)
  virtual void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight,
                                  TensorRef bias, int64_t groups, double eps);
  // dx [B, C, HW]; dweight, dbias [C] (data == nullptr when not wanted), overwritten.
  virtual void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                                   TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups);
  // One AdamW step over many parameters at once (all contiguous, float32 or float64, same dtype;
  // list i's param, grad, m, v have equal numel). One launch on the GPU, not one per tensor.
  virtual void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                          const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step);
  // ema = decay * ema + (1 - decay) * param for every pair, in one pass.
  virtual void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay);
  // out[0] (float64, one element) = sum over all tensors of sum(x^2): for gradient clipping.
  virtual void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors);

 protected:
  [[noreturn]] void missing(const char* kernel) const;
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
