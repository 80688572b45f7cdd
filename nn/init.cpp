// Parameter initializers: each fills its tensor in place with random numbers drawn on its device.
#include "nn/init.hpp"

#include <cmath>

#include "autograd/engine.hpp"
#include "tensor/macros.hpp"

namespace ddpm::init {

Fans fans(const Tensor& weight) {
  DDPM_CHECK(weight.dim() >= 2, "init: fan_in and fan_out need a weight of at least 2 dims, got ", describe(weight));
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return {weight.size(1) * receptive, weight.size(0) * receptive};
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  NoGradGuard no_grad;
  Tensor dst = t;  // a handle, to write through
  dst.copy_(rand(t.shape(), TensorOptions(t.dtype(), t.device()), gen, low, high));
}

void zeros_(const Tensor& t) {
  Tensor dst = t;
  dst.fill_(0.0);
}

void ones_(const Tensor& t) {
  Tensor dst = t;
  dst.fill_(1.0);
}

void kaiming_uniform_(const Tensor& weight, double a, Generator* gen) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / double(fans(weight).fan_in));
  uniform_(weight, -bound, bound, gen);
}

void default_init_(const Tensor& weight, const Tensor& bias, Generator* gen) {
  kaiming_uniform_(weight, std::sqrt(5.0), gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(double(fans(weight).fan_in));
    uniform_(bias, -bound, bound, gen);
  }
}

void fan_avg_uniform_(const Tensor& weight, double scale, Generator* gen) {
  DDPM_CHECK(scale >= 0.0, "fan_avg_uniform_: scale must be >= 0, got ", scale);
  const Fans f = fans(weight);
  const double limit = std::sqrt(3.0 * scale / (double(f.fan_in + f.fan_out) / 2.0));
  uniform_(weight, -limit, limit, gen);
}

}  // namespace ddpm::init
