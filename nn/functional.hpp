// The differentiable neural-network ops a DDPM U-Net is made of (namespace ddpm, beside the ops of
// autograd/autograd.hpp). Each has a naive reference in the tests, a CPU and a CUDA kernel where it
// needs one of its own, a float64 gradcheck and a CPU/CUDA parity test. Layouts are PyTorch's.
#pragma once
#include "autograd/autograd.hpp"

namespace ddpm {

// x: [B, Cin, H, W], weight: [Cout, Cin, kh, kw], bias: [Cout] or undefined -> [B, Cout, H', W'],
// H' = (H + 2 padding - kh) / stride + 1. im2col + GEMM.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, int64_t stride = 1,
              int64_t padding = 0);
// conv2d(silu(x), weight, bias, stride, padding) as one op: in float32, silu(x) is applied as the
// kernel reads x and never stored (the U-Net's GroupNorm -> SiLU -> conv); other dtypes compose the two.
Tensor silu_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, int64_t stride = 1,
                   int64_t padding = 0);
// The adjoint of conv2d: x: [B, Cin, H, W], weight: [Cin, Cout, kh, kw] -> [B, Cout, H', W'],
// H' = (H - 1) stride - 2 padding + kh + output_padding (output_padding < stride).
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, int64_t stride = 1,
                        int64_t padding = 0, int64_t output_padding = 0);
// x: [B, C, ...] normalised over each group of C / groups channels (and all positions); weight and
// bias [C] or undefined. Fused forward and backward kernels.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
// x: [..., N] normalised over the last dim; weight and bias [N] or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight = {}, const Tensor& bias = {}, double eps = 1e-5);
// x: [..., in], weight: [out, in], bias: [out] or undefined -> [..., out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
// In training, zeroes each element with probability p (mask from the Philox generator) and scales
// the rest by 1 / (1 - p); in eval (training = false) returns x.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);
// x: [B, C, H, W] -> [B, C, scale H, scale W], each pixel repeated scale x scale times.
Tensor upsample_nearest2d(const Tensor& x, int64_t scale = 2);
// Scaled dot-product attention: q: [..., Lq, d], k: [..., Lk, d], v: [..., Lk, dv] ->
// softmax(q k^T / sqrt(d)) v: [..., Lq, dv]. Multi-head is a leading heads dim. The backward
// recomputes the attention weights instead of storing them.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace ddpm
