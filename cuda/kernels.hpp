// Host entry points of the CUDA kernels, one per Backend method (semantics in tensor/backend.hpp).
// Each checks what the front end cannot have checked, picks the dtype once and launches on stream().
#pragma once
#include <cstdint>

#include "tensor/backend.hpp"

namespace ddpm::gpu {

// elementwise.cu
void copy(TensorRef dst, TensorRef src);
void fill(TensorRef dst, double value);
void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b);
void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y);
void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first);
void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y);

// reduce.cu
void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction);
void softmax(TensorRef out, TensorRef in, int64_t inner, bool log);

// gemm.cpp (host only: cuBLAS)
void gemm(const GemmArgs& args);

// index.cu
void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim);
void gather(TensorRef out, TensorRef in, TensorRef idx, int dim);
void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim);
void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim);

// random.cu
void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b);

// conv.cu
void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g);
void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g);

// norm.cu
void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, TensorRef bias,
                        int64_t groups, double eps);
void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                         TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups);

// optim.cu: one launch over all tensors (a multi-tensor kernel) for adamw_step and ema_update
void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step);
void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay);
void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors);

}  // namespace ddpm::gpu
