// Parameter initializers, in place, as torch.nn.init: PyTorch's defaults for Linear and Conv, the
// DDPM paper's fan-average uniform, zeros. Each draws from `gen` (the default generator if null), so
// a seed gives the same model on every device.
#pragma once
#include <cstdint>

#include "tensor/random.hpp"

namespace ddpm::init {

// fan_in and fan_out as PyTorch computes them for a weight of >= 2 dims: dim 1 and dim 0 times the
// receptive field (the product of dims 2...). Linear [out, in]: (in, out); Conv2d [out, in, kh, kw]:
// (in kh kw, out kh kw); ConvTranspose2d [in, out, kh, kw]: (out kh kw, in kh kw), as in PyTorch.
struct Fans {
  int64_t fan_in = 0, fan_out = 0;
};
Fans fans(const Tensor& weight);

// Uniform in [low, high).
void uniform_(const Tensor& t, double low, double high, Generator* gen = nullptr);
void zeros_(const Tensor& t);
void ones_(const Tensor& t);

// He et al.'s uniform init for a leaky ReLU of slope a, from fan_in:
// bound = gain sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
void kaiming_uniform_(const Tensor& weight, double a = 0.0, Generator* gen = nullptr);

// PyTorch's default for Linear, Conv2d and ConvTranspose2d: kaiming_uniform_ with a = sqrt(5), which
// is uniform(+-1 / sqrt(fan_in)), and the bias (if defined) uniform(+-1 / sqrt(fan_in)).
void default_init_(const Tensor& weight, const Tensor& bias, Generator* gen = nullptr);

// The DDPM paper's init (TensorFlow's variance_scaling(scale, 'fan_avg', 'uniform')): uniform in
// +-limit with limit = sqrt(3 scale / ((fan_in + fan_out) / 2)), so the variance is
// scale / ((fan_in + fan_out) / 2).
void fan_avg_uniform_(const Tensor& weight, double scale = 1.0, Generator* gen = nullptr);

}  // namespace ddpm::init
