// Host entry points of the CUDA kernels: ddpm::gpu::name for every entry of tensor/kernel_table.hpp
// (whose comments say what each computes). Each checks what the front end cannot have checked, picks
// the dtype once and launches on stream(). One family per file:
//   elementwise.cu  copy, fill, unary, binary, binary_scalar, where
//   reduce.cu       reduce, softmax
//   gemm.cpp        gemm (host only: cuBLAS)
//   index.cu        index_select, gather, index_add, scatter_add
//   random.cu       random
//   conv.cu         im2col, col2im
//   conv_gemm.cpp   conv2d, conv2d_weight_grad (im2col into scratch, then cuBLAS)
//   norm.cu         group_norm_forward, group_norm_backward
//   optim.cu        adamw_step, ema_update, sum_of_squares (one launch over all tensors: a
//                   multi-tensor kernel)
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/backend.hpp"
#include "tensor/kernel_table.hpp"

namespace ddpm::gpu {

DDPM_BACKEND_KERNELS(DDPM_DECLARE_KERNEL)

}  // namespace ddpm::gpu

// Inside a Backend subclass: `DDPM_BACKEND_KERNELS(DDPM_FORWARD_TO_GPU)` overrides every kernel
// with a call of its ddpm::gpu function.
#define DDPM_FORWARD_TO_GPU(name, params, args) \
  void name params override { ::ddpm::gpu::name args; }
