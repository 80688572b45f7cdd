// The Gaussian KL and the discretized Gaussian decoder (eq. 13) of the variational bound.
#include "diffusion/losses.hpp"

#include <cmath>

#include "autograd/autograd.hpp"

namespace ddpm {

Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2) {
  // BEGIN SOLUTION normal_kl
  return 0.5 * (-1.0 + logvar2 - logvar1 + exp(logvar1 - logvar2) + pow(mean1 - mean2, 2.0) * exp(-logvar2));
  // END SOLUTION
}

Tensor approx_standard_normal_cdf(const Tensor& u) {
  const double c = std::sqrt(2.0 / M_PI);
  Tensor v = clamp(u, -100.0, 100.0);
  return sigmoid(2.0 * c * (v + 0.044715 * pow(v, 3.0)));
}

Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales) {
  const double half_bin = 1.0 / 255.0, floor = 1e-12;
  Tensor centered = x - means;
  Tensor inv_stdv = exp(-log_scales);
  Tensor hi = inv_stdv * (centered + half_bin);  // the bin's upper edge, standardized
  Tensor lo = inv_stdv * (centered - half_bin);  // its lower edge
  // The edge bins: P(X < -1 + 1/255) = Phi(hi) and P(X > 1 - 1/255) = 1 - Phi(lo) = Phi(-lo).
  Tensor log_cdf_hi = log(maximum(approx_standard_normal_cdf(hi), floor));
  Tensor log_one_minus_cdf_lo = log(maximum(approx_standard_normal_cdf(-lo), floor));
  // An inner bin: Phi(hi) - Phi(lo), from the tail the bin lies in.
  Tensor below = approx_standard_normal_cdf(hi) - approx_standard_normal_cdf(lo);
  Tensor above = approx_standard_normal_cdf(-lo) - approx_standard_normal_cdf(-hi);
  Tensor log_delta = log(maximum(where(ops::ge(centered, 0.0), above, below), floor));
  return where(ops::lt(x, -0.999), log_cdf_hi, where(ops::gt(x, 0.999), log_one_minus_cdf_lo, log_delta));
}

}  // namespace ddpm
