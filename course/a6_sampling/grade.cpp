// Assignment 6's grader: one step of Algorithm 2 against its formula, and Algorithm 2 and DDIM run with the
// exact eps of Gaussian data, which must give back that Gaussian.
#include <cmath>

#include "gaussian_data.hpp"
#include "grader/grading.hpp"

using namespace ddpm;

namespace {

GaussianDiffusion diffusion() { return GaussianDiffusion(DiffusionConfig{}); }  // T = 1000, linear betas

// The mean and variance of a sample, checked against N(mu, s^2) within 5 standard errors (plus the
// samplers' small discretization error, below 0.01).
void check_gaussian(const std::string& what, const Tensor& x, double mu, double s) {
  const std::vector<double> v = x.to_vector<double>();
  const double n = double(v.size());
  double mean = 0, var = 0;
  for (double e : v) mean += e / n;
  for (double e : v) var += (e - mean) * (e - mean) / (n - 1);
  course::check_between(what + ": the sample mean", mean, mu - 5 * s / std::sqrt(n) - 0.01, mu + 5 * s / std::sqrt(n) + 0.01);
  course::check_between(what + ": the sample variance", var, s * s * (1 - 5 * std::sqrt(2 / n)) - 0.01,
                        s * s * (1 + 5 * std::sqrt(2 / n)) + 0.01);
}

}  // namespace

TEST_SUITE("course") {

TEST_CASE("a6 one p_sample step is mean + sigma z (2 points)") {
  GaussianDiffusion d = diffusion();
  const test::Gaussian g{0.2, 0.5};
  const DenoiseModel model = g.model(d.schedule(), Objective::Eps);
  Generator gen(3);
  const Tensor x = randn({2, 1, 3, 3}, TensorOptions(DType::Float64), &gen);
  const Tensor t = Tensor::from_vector(std::vector<int64_t>{500, 0}, {2});
  Generator g1(9), g2(9);
  const Tensor got = d.p_sample(model, x, t, g1, false);
  GaussianDiffusion::PMeanVariance p = d.p_mean_variance(model, x, t, false);
  const Tensor z = randn(x.shape(), TensorOptions(DType::Float64), &g2);  // the step's one draw
  const Tensor sigma = Tensor::from_vector(std::vector<double>{std::sqrt(d.schedule().betas[500]), 0.0}, {2, 1, 1, 1});
  course::check_close("p_sample at t = {500, 0} (no noise is added at t = 0)", got, p.mean + sigma * z, 1e-10, 1e-8);
}

TEST_CASE("a6 Algorithm 2 with the exact eps returns the data Gaussian (3 points)") {
  GaussianDiffusion d = diffusion();
  const test::Gaussian g{0.3, 0.5};
  Generator gen(4);
  SampleOptions so;
  so.clip_denoised = false;
  const Tensor x = d.p_sample_loop(g.model(d.schedule(), Objective::Eps), {2000, 1, 1, 1}, gen, so).x0;
  check_gaussian("2000 samples of Algorithm 2 for data N(0.3, 0.5^2)", x, 0.3, 0.5);
}

TEST_CASE("a6 DDIM with eta 0 is deterministic and returns the data Gaussian (3 points)") {
  GaussianDiffusion d = diffusion();
  const test::Gaussian g{-0.2, 0.4};
  const DenoiseModel model = g.model(d.schedule(), Objective::Eps);
  Generator gen(5);
  SampleOptions so;
  so.clip_denoised = false;
  so.x_T = randn({2000, 1, 1, 1}, {}, &gen);
  Generator g1(1), g2(2);
  const Tensor a = d.ddim_sample_loop(model, {2000, 1, 1, 1}, 100, 0.0, g1, so).x0;
  const Tensor b = d.ddim_sample_loop(model, {2000, 1, 1, 1}, 100, 0.0, g2, so).x0;
  course::check_close("DDIM (eta 0, S = 100) from the same x_T with two different generators", a, b, 0.0, 0.0);
  check_gaussian("2000 samples of DDIM (S = 100) for data N(-0.2, 0.4^2)", a, -0.2, 0.4);
}

}  // TEST_SUITE
