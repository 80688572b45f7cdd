// Assignment 4's grader: q_sample (eq. 4), q_step (eq. 2) and the posterior (eqs. 6-7) against closed forms
// computed here from the betas alone, and many steps of q_step against q_sample in distribution.
#include <cmath>

#include "diffusion/gaussian_diffusion.hpp"
#include "grader/grading.hpp"

using namespace ddpm;
using course::check_close;

namespace {

GaussianDiffusion diffusion(int64_t T = 100) {
  DiffusionConfig c;
  c.T = T;
  c.beta_end = 0.2;  // T = 100 steps still reach noise
  return GaussianDiffusion(c);
}

// abar_t = prod_{s <= t} (1 - beta_s), straight from the betas.
std::vector<double> alphas_cumprod(const NoiseSchedule& s) {
  std::vector<double> a(s.betas.size());
  double p = 1;
  for (size_t t = 0; t < a.size(); ++t) a[t] = p *= 1.0 - s.betas[t];
  return a;
}

Tensor per_sample(const std::vector<double>& v) { return Tensor::from_vector(v, {int64_t(v.size()), 1, 1, 1}); }

const std::vector<int64_t> kSteps = {0, 1, 37, 99};

}  // namespace

TEST_SUITE("course") {

TEST_CASE("a4 q_sample matches eq. 4 (2 points)") {
  GaussianDiffusion d = diffusion();
  const std::vector<double> abar = alphas_cumprod(d.schedule());
  Generator gen(4);
  const Tensor x0 = randn({4, 1, 3, 3}, TensorOptions(DType::Float64), &gen), noise = randn(x0.shape(), TensorOptions(DType::Float64), &gen);
  std::vector<double> a, b;
  for (int64_t t : kSteps) a.push_back(std::sqrt(abar[size_t(t)])), b.push_back(std::sqrt(1 - abar[size_t(t)]));
  check_close("q_sample(x0, t = {0, 1, 37, 99}, noise)", d.q_sample(x0, Tensor::from_vector(kSteps, {4}), noise),
              per_sample(a) * x0 + per_sample(b) * noise, 1e-12, 1e-10);
}

TEST_CASE("a4 q_step matches eq. 2 (2 points)") {
  GaussianDiffusion d = diffusion();
  const std::vector<double>& beta = d.schedule().betas;
  Generator gen(5);
  const Tensor x = randn({4, 1, 3, 3}, TensorOptions(DType::Float64), &gen), noise = randn(x.shape(), TensorOptions(DType::Float64), &gen);
  std::vector<double> a, b;
  for (int64_t t : kSteps) a.push_back(std::sqrt(1 - beta[size_t(t)])), b.push_back(std::sqrt(beta[size_t(t)]));
  check_close("q_step(x_prev, t = {0, 1, 37, 99}, noise)", d.q_step(x, Tensor::from_vector(kSteps, {4}), noise),
              per_sample(a) * x + per_sample(b) * noise, 1e-12, 1e-10);
}

TEST_CASE("a4 T steps of q_step give q_sample's distribution (2 points)") {
  GaussianDiffusion d = diffusion();
  const std::vector<double> abar = alphas_cumprod(d.schedule());
  const int64_t n = 20000;
  Generator gen(6);
  Tensor x = full({n, 1, 1, 1}, 0.8, TensorOptions(DType::Float64));
  for (int64_t t = 0; t < 60; ++t)
    x = d.q_step(x, full({n}, double(t), TensorOptions(DType::Int64)), randn(x.shape(), TensorOptions(DType::Float64), &gen));
  const std::vector<double> v = x.to_vector<double>();
  double mean = 0, var = 0;
  for (double e : v) mean += e / double(n);
  for (double e : v) var += (e - mean) * (e - mean) / double(n - 1);
  const double want_mean = std::sqrt(abar[59]) * 0.8, want_var = 1 - abar[59];
  // 5 standard errors of the sample mean and variance
  course::check_between("the mean of x_60 after 60 steps of q_step from x0 = 0.8", mean,
                        want_mean - 5 * std::sqrt(want_var / n), want_mean + 5 * std::sqrt(want_var / n));
  course::check_between("the variance of x_60", var, want_var * (1 - 5 * std::sqrt(2.0 / n)),
                        want_var * (1 + 5 * std::sqrt(2.0 / n)));
}

TEST_CASE("a4 the posterior mean and variance match eqs. 6-7 (2 points)") {
  GaussianDiffusion d = diffusion();
  const std::vector<double> abar = alphas_cumprod(d.schedule());
  const std::vector<double>& beta = d.schedule().betas;
  Generator gen(7);
  const Tensor x0 = randn({4, 1, 2, 2}, TensorOptions(DType::Float64), &gen), x_t = randn(x0.shape(), TensorOptions(DType::Float64), &gen);
  std::vector<double> c1, c2, var;
  for (int64_t t : kSteps) {
    const double prev = t > 0 ? abar[size_t(t - 1)] : 1.0, a = abar[size_t(t)], b = beta[size_t(t)];
    c1.push_back(std::sqrt(prev) * b / (1 - a));
    c2.push_back(std::sqrt(1 - b) * (1 - prev) / (1 - a));
    var.push_back(b * (1 - prev) / (1 - a));
  }
  GaussianDiffusion::Posterior q = d.q_posterior_mean_variance(x0, x_t, Tensor::from_vector(kSteps, {4}));
  check_close("the posterior mean mu-tilde(x_t, x0) at t = {0, 1, 37, 99} (eq. 7)", q.mean,
              per_sample(c1) * x0 + per_sample(c2) * x_t, 1e-12, 1e-10);
  check_close("the posterior variance beta-tilde_t at t = {0, 1, 37, 99} (eq. 7)", q.variance, per_sample(var), 1e-12,
              1e-10);
}

}  // TEST_SUITE
