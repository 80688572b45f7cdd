// The CPU Backend: host memory from the caching allocator, and the kernels of cpu_kernels.hpp.
#include <cstring>

#include "tensor/allocator.hpp"
#include "tensor/backend.hpp"
#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/host_sync.hpp"

namespace ddpm {
namespace {

class CpuBackend : public Backend {
 public:
  Allocator& allocator() override { return cpu_allocator(); }

  void copy(TensorRef dst, TensorRef src) override { cpu::copy(dst, src); }
  void fill(TensorRef dst, double value) override { cpu::fill(dst, value); }
  void copy_from_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes > 0) std::memcpy(dst, src, nbytes);
  }
  void copy_to_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes > 0) std::memcpy(dst, src, nbytes);
  }
  void synchronize() override { count_synchronize(); }  // CPU kernels finish before they return

  void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b) override {
    cpu::unary(op, out, in, a, b);
  }
  void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y) override { cpu::binary(op, out, x, y); }
  void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first) override {
    cpu::binary_scalar(op, out, x, s, scalar_first);
  }
  void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y) override { cpu::where(out, cond, x, y); }

  void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) override {
    cpu::reduce(op, out, in, inner, correction);
  }
  void softmax(TensorRef out, TensorRef in, int64_t inner, bool log) override {
    cpu::softmax(out, in, inner, log);
  }
  void gemm(const GemmArgs& args) override { cpu::gemm(args); }

  void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim) override {
    cpu::index_select(out, in, idx, dim);
  }
  void gather(TensorRef out, TensorRef in, TensorRef idx, int dim) override { cpu::gather(out, in, idx, dim); }
  void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim) override {
    cpu::index_add(out, idx, src, dim);
  }
  void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim) override {
    cpu::scatter_add(out, idx, src, dim);
  }

  void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b) override {
    cpu::random(dist, out, seed, offset, a, b);
  }

  void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g) override { cpu::im2col(cols, image, g); }
  void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g) override { cpu::col2im(image, cols, g); }
  void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, TensorRef bias,
                          int64_t groups, double eps) override {
    cpu::group_norm_forward(y, mean, rstd, x, weight, bias, groups, eps);
  }
  void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                           TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups) override {
    cpu::group_norm_backward(dx, dweight, dbias, dy, x, mean, rstd, weight, groups);
  }

  void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                  const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step) override {
    cpu::adamw_step(params, grads, m, v, step);
  }
  void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay) override {
    cpu::ema_update(ema, params, decay);
  }
  void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors) override {
    cpu::sum_of_squares(out, tensors);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

}  // namespace ddpm
