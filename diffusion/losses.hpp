// The likelihood terms of the variational bound (Ho et al. 2020, eqs. 5 and 13), as improved-diffusion's
// losses.py: the KL divergence of two diagonal Gaussians and the discretized Gaussian decoder p(x_0 | x_1).
// Each is differentiable (built from autograd ops) and elementwise: the caller averages over pixels.
#pragma once
#include "tensor/tensor.hpp"

namespace ddpm {

// KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) per element, in nats; any broadcastable shapes:
//   0.5 (-1 + logvar2 - logvar1 + exp(logvar1 - logvar2) + (mean1 - mean2)^2 exp(-logvar2))
// Eq. 5's L_T and L_{t-1} are this between q's posterior (or prior) and p_theta.
Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2);

// The tanh approximation of the standard normal CDF that improved-diffusion's decoder uses,
//   Phi(u) ~ 0.5 (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))) = sigmoid(2 sqrt(2/pi) (u + 0.044715 u^3)),
// written as a sigmoid so that 1 - Phi(u) = Phi(-u) holds exactly in floating point (the upper tail is
// computed as a small number, not as 1 minus a number near 1). u is clamped to [-100, 100], where Phi is
// 0 or 1 to double precision, so that huge arguments give no infinity (and no NaN gradient).
Tensor approx_standard_normal_cdf(const Tensor& u);

// log p(x | means, scales) of eq. 13 per element, in nats: x (image pixels in [-1, 1], quantized to the 256
// levels -1 + 2k/255) falls in a bin of width 2/255 around it, whose probability under N(means, scales^2) is
//   Phi((x + 1/255 - mean) / scale) - Phi((x - 1/255 - mean) / scale),
// with the edge bins open: -inf at x = -1 (k = 0) and +inf at x = 1 (k = 255), so the 256 bins sum to 1.
// log_scales = log(scale) (half the log-variance). Stable for tiny scales: a bin above the mean is
// computed from the upper tail, Phi(-lo) - Phi(-hi), so that neither difference loses its digits, and
// each probability is floored at 1e-12 before the log (as improved-diffusion), so a bin far from the
// mean costs at most 27.6 nats and no gradient is infinite. x, means and log_scales broadcast.
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales);

}  // namespace ddpm
