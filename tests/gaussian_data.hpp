// The exact denoiser of a Gaussian data set, shared by the sampler and conditioning tests: data
// x0 ~ N(mu, s^2) per element makes x_t ~ N(sqrt(abar) mu, abar s^2 + 1 - abar), and E[x0 | x_t],
// E[eps | x_t] are affine in x_t.
#pragma once
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/gaussian_diffusion.hpp"

namespace ddpm::test {

struct Gaussian {
  double mu, s;

  // E[x0 | x_t] = mu + g (x_t - sqrt(abar) mu), g = sqrt(abar) s^2 / (abar s^2 + 1 - abar), and
  // E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar): output = A x_t + C.
  void affine(double abar, Objective o, double& A, double& C) const {
    const double var = abar * s * s + 1.0 - abar, ra = std::sqrt(abar), rb = std::sqrt(1.0 - abar);
    const double g = ra * s * s / var, x0_A = g, x0_C = mu - g * ra * mu;
    const double eps_A = rb / var, eps_C = -rb * ra * mu / var;
    switch (o) {
      case Objective::Eps: A = eps_A; C = eps_C; break;
      case Objective::X0: A = x0_A; C = x0_C; break;
      case Objective::V: A = ra * eps_A - rb * x0_A; C = ra * eps_C - rb * x0_C; break;  // v = sqrt(abar) eps - sqrt(1-abar) x0
    }
  }

  // The exact Bayes denoiser as a network: x_t [B, ...], t [B] -> eps, x0 or v [B, ...].
  DenoiseModel model(const NoiseSchedule& sched, Objective o) const {
    return [this, &sched, o](const Tensor& x_t, const Tensor& t) {
      std::vector<int64_t> ts = t.to_vector<int64_t>();
      std::vector<double> A(ts.size()), C(ts.size());
      for (size_t b = 0; b < ts.size(); ++b) affine(sched.alphas_cumprod[size_t(ts[b])], o, A[b], C[b]);
      Shape shape(size_t(x_t.dim()), 1);
      shape[0] = int64_t(ts.size());
      TensorOptions opts(x_t.dtype(), x_t.device());
      return tensor(A, shape, opts) * x_t + tensor(C, shape, opts);
    };
  }
};

}  // namespace ddpm::test
