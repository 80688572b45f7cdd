// The stride-1 fast path of the CPU's conv2d kernels (cpu_conv_direct.cpp; private to tensor/cpu).
// All pointers are contiguous float32: x [B, C, H, W], w and dw [Cout, C*kh*kw], y and dy [B, Cout, out_h*out_w].
#pragma once
#include <cstdint>

#include "tensor/backend.hpp"

namespace ddpm::cpu {

bool conv_is_stride1(const ConvGeometry& g);
// y = conv2d(x, w) + bias, of silu(x) with silu_x (bias may be nullptr; y overwritten).
void conv2d_stride1(float* y, const float* x, const float* w, const float* bias, int64_t cout,
                    const ConvGeometry& g, bool silu_x);
// dw = sum_b dy[b] @ im2col(x[b])^T, of silu(x) with silu_x (overwritten).
void conv2d_weight_grad_stride1(float* dw, const float* dy, const float* x, int64_t cout, const ConvGeometry& g,
                                bool silu_x);

}  // namespace ddpm::cpu
