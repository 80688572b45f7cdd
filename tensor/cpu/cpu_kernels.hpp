// The CPU kernels behind CpuBackend (private to tensor/cpu): ddpm::cpu::name for every entry of
// tensor/kernel_table.hpp (whose comments say what each computes). One family per file:
//   cpu_copy.cpp         copy, fill
//   cpu_elementwise.cpp  unary, binary, binary_scalar, where
//   cpu_reduce.cpp       reduce, softmax
//   cpu_gemm.cpp         gemm
//   cpu_index.cpp        index_select, gather, index_add, scatter_add
//   cpu_random.cpp       random
//   cpu_conv.cpp         im2col, col2im, conv2d, conv2d_weight_grad (cpu_conv_direct.cpp: stride 1)
//   cpu_norm.cpp         group_norm_forward, group_norm_backward
//   cpu_optim.cpp        adamw_step, ema_update, sum_of_squares
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/backend.hpp"
#include "tensor/kernel_table.hpp"

namespace ddpm::cpu {

DDPM_BACKEND_KERNELS(DDPM_DECLARE_KERNEL)

}  // namespace ddpm::cpu

// Inside a Backend subclass: `DDPM_BACKEND_KERNELS(DDPM_FORWARD_TO_CPU)` overrides every kernel
// with a call of its ddpm::cpu function.
#define DDPM_FORWARD_TO_CPU(name, params, args) \
  void name params override { ::ddpm::cpu::name args; }
