// Assignment 7's grader: the KL of two Gaussians, the bound's term L_{t-1} in bits per dimension (eq. 5),
// and classifier-free guidance's mix, against values computed here in float64.
#include <cmath>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/losses.hpp"
#include "grader/grading.hpp"

using namespace ddpm;

namespace {

double kl(double m1, double lv1, double m2, double lv2) {  // KL(N(m1, e^lv1) || N(m2, e^lv2))
  return 0.5 * (lv2 - lv1 + std::exp(lv1 - lv2) + (m1 - m2) * (m1 - m2) * std::exp(-lv2) - 1.0);
}

Tensor r64(const Shape& shape, Generator& gen, double sd = 1.0) {
  return randn(shape, TensorOptions(DType::Float64), &gen, 0.0, sd);
}

}  // namespace

TEST_SUITE("course") {

TEST_CASE("a7 normal_kl matches the KL of two Gaussians (2 points)") {
  Generator gen(1);
  const Tensor m1 = r64({6}, gen), lv1 = r64({6}, gen, 0.5), m2 = r64({6}, gen), lv2 = r64({6}, gen, 0.5);
  std::vector<double> want;
  for (int64_t i = 0; i < 6; ++i)
    want.push_back(kl(m1.to_vector<double>()[size_t(i)], lv1.to_vector<double>()[size_t(i)],
                      m2.to_vector<double>()[size_t(i)], lv2.to_vector<double>()[size_t(i)]));
  course::check_close("normal_kl(mean1, logvar1, mean2, logvar2)", normal_kl(m1, lv1, m2, lv2),
                      Tensor::from_vector(want, {6}), 1e-12, 1e-10);
}

TEST_CASE("a7 normal_kl passes gradcheck (1 point)") {
  Generator gen(2);
  std::vector<Tensor> in;
  for (int k = 0; k < 4; ++k) in.push_back(set_requires_grad(r64({5}, gen, 0.5)));
  course::check_gradient("normal_kl with respect to both means and log-variances",
                         [](const std::vector<Tensor>& x) { return normal_kl(x[0], x[1], x[2], x[3]); }, in);
}

TEST_CASE("a7 the bound's term L_{t-1} is the mean KL in bits per dimension (3 points)") {
  DiffusionConfig c;
  c.T = 50;
  c.variance = VarianceType::BetaTilde;
  GaussianDiffusion d(c);
  const auto& s = d.schedule();
  Generator gen(3);
  const Tensor x0 = ops::clamp(r64({2, 1, 2, 2}, gen), -1.0, 1.0), x_t = r64({2, 1, 2, 2}, gen);
  const Tensor t = Tensor::from_vector(std::vector<int64_t>{10, 40}, {2});
  DenoiseModel model = [](const Tensor& x, const Tensor&) { return 0.5 * x; };  // eps_theta = x_t / 2
  const Tensor got = d.vb_terms_bpd(model, x0, x_t, t, /*clip_denoised=*/false);
  // q(x_{t-1} | x_t, x0) and p(x_{t-1} | x_t) with p's x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar), both
  // with variance beta-tilde: the KL of each pixel, averaged, in bits.
  const std::vector<double> a = x0.to_vector<double>(), b = x_t.to_vector<double>();
  std::vector<double> want;
  for (int64_t i = 0; i < 2; ++i) {
    const size_t ti = size_t(i == 0 ? 10 : 40);
    const double abar = s.alphas_cumprod[ti], lv = std::log(s.posterior_variance[ti]);
    double sum = 0;
    for (int64_t k = 0; k < 4; ++k) {
      const double x0v = a[size_t(i * 4 + k)], xtv = b[size_t(i * 4 + k)];
      const double x0p = (xtv - std::sqrt(1 - abar) * 0.5 * xtv) / std::sqrt(abar);
      const double mq = s.posterior_mean_coef1[ti] * x0v + s.posterior_mean_coef2[ti] * xtv;
      const double mp = s.posterior_mean_coef1[ti] * x0p + s.posterior_mean_coef2[ti] * xtv;
      sum += kl(mq, lv, mp, lv);
    }
    want.push_back(sum / 4 / std::log(2.0));
  }
  course::check_close("vb_terms_bpd at t = {10, 40} for eps_theta = x_t / 2 (bits per dimension)", got,
                      Tensor::from_vector(want, {2}), 1e-10, 1e-8);
}

TEST_CASE("a7 classifier-free guidance mixes eps(null) + w (eps(c) - eps(null)) (2 points)") {
  Generator gen(4);
  const Tensor cond = r64({2, 2, 3, 3}, gen), uncond = r64({2, 2, 3, 3}, gen);
  for (double w : {1.0, 3.0, -0.5}) {
    const Tensor want = ops::cat({ops::narrow(uncond, 1, 0, 1) + w * (ops::narrow(cond, 1, 0, 1) - ops::narrow(uncond, 1, 0, 1)),
                                  ops::narrow(cond, 1, 1, 1)}, 1);
    course::check_close("classifier_free_mix(cond, uncond, w = " + std::to_string(w) +
                            ", 1 channel mixed; the other, a learned variance, is the conditional one)",
                        classifier_free_mix(cond, uncond, w, 1), want, 1e-12, 1e-10);
  }
  course::check_close("classifier_free_mix at w = 0: the unconditional output, all of it",
                      classifier_free_mix(cond, uncond, 0.0, 1), uncond, 0.0, 0.0);
}

}  // TEST_SUITE
