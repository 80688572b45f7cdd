// The CPU kernels behind CpuBackend (private to tensor/cpu), one group per file: cpu_copy.cpp,
// cpu_elementwise.cpp, cpu_reduce.cpp, cpu_gemm.cpp, cpu_index.cpp, cpu_random.cpp, cpu_conv.cpp.
#pragma once
#include <cstdint>

#include "tensor/backend.hpp"

namespace ddpm::cpu {

void copy(TensorRef dst, TensorRef src);
void fill(TensorRef dst, double value);

void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b);
void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y);
void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first);
void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y);

void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction);
void softmax(TensorRef out, TensorRef in, int64_t inner, bool log);

void gemm(const GemmArgs& args);

void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim);
void gather(TensorRef out, TensorRef in, TensorRef idx, int dim);
void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim);
void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim);

void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b);

// cpu_conv.cpp
void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g);
void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g);

// cpu_norm.cpp
void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, TensorRef bias,
                        int64_t groups, double eps);
void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                         TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups);

// cpu_optim.cpp
void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step);
void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay);
void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors);

}  // namespace ddpm::cpu
