// The variational bound's pieces against closed forms: normal_kl, the discretized decoder (eq. 13) whose
// 256 bins sum to 1, the bound of the exact reverse process of Gaussian data against the exact NLL of the
// discretized Gaussian, gradchecks of the learned-range variance and the hybrid loss, its stop-gradient,
// respaced chains (S = T is the full chain; the kept steps keep their alpha-bar), and q_step (eq. 2)
// against the closed form of eq. 4; on a GPU, the same compositions against the CPU.
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/losses.hpp"
#include "cuda_parity.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

const TensorOptions kF64(DType::Float64);

Tensor steps(const std::vector<int64_t>& t) { return Tensor::from_vector<int64_t>(t, {int64_t(t.size())}); }

DiffusionConfig config(int64_t T, VarianceType v, LossType l = LossType::Simple) {
  DiffusionConfig c;
  c.T = T;
  c.variance = v;
  c.loss = l;
  return c;
}

// The standard normal CDF in the tanh approximation, written directly in doubles.
double approx_cdf(double u) { return 0.5 * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (u + 0.044715 * u * u * u))); }

// The 256 bin probabilities of eq. 13 for one mean and scale, from our function, float64.
std::vector<double> bin_probabilities(double mean, double log_scale) {
  std::vector<double> x(256);
  for (int k = 0; k < 256; ++k) x[size_t(k)] = -1.0 + 2.0 * k / 255.0;
  Tensor logp = discretized_gaussian_log_likelihood(Tensor::from_vector(x, {256}), full({}, mean, kF64),
                                                     full({}, log_scale, kF64));
  std::vector<double> p = exp(logp).to_vector<double>();
  return p;
}

// Data x0 ~ N(mu, s^2) per pixel. Its exact reverse process, as a learned-range model: the eps half is
// E[eps | x_t], and v puts the variance at the true Var[x_{t-1} | x_t] = beta-tilde_t + coef1_t^2 Var[x0 | x_t].
struct GaussianData {
  double mu, s;

  DenoiseModel exact_reverse(const NoiseSchedule& sched, bool learned) const {
    return [this, &sched, learned](const Tensor& x_t, const Tensor& t) {
      std::vector<int64_t> ts = t.to_vector<int64_t>();
      const int64_t B = int64_t(ts.size());
      std::vector<double> A(ts.size()), C(ts.size()), v(ts.size());
      for (size_t b = 0; b < ts.size(); ++b) {
        const size_t i = size_t(ts[b]);
        const double abar = sched.alphas_cumprod[i], var = abar * s * s + 1.0 - abar;
        const double rb = std::sqrt(1.0 - abar);
        A[b] = rb / var, C[b] = -rb * std::sqrt(abar) * mu / var;  // E[eps | x_t] = A x_t + C
        const double var_x0 = s * s * (1.0 - abar) / var;            // Var[x0 | x_t]
        const double c1 = sched.posterior_mean_coef1[i];
        const double true_log = std::log(sched.posterior_variance[i] + c1 * c1 * var_x0);
        const double lo = sched.posterior_log_variance_clipped[i], hi = std::log(sched.betas[i]);
        v[b] = 2.0 * (true_log - lo) / (hi - lo) - 1.0;  // frac = (v + 1) / 2 of eq. 15
      }
      Shape per(size_t(x_t.dim()), 1);
      per[0] = B;
      TensorOptions opts(x_t.dtype(), x_t.device());
      Tensor eps = tensor(A, per, opts) * x_t + tensor(C, per, opts);
      if (!learned) return eps;
      return ops::cat({eps, ops::expand(tensor(v, per, opts), x_t.shape())}, 1);
    };
  }

  // P(bin k) of the discretized Gaussian with open edge bins, in the same CDF approximation as eq. 13's
  // code, so that the exact NLL and the bound's decoder share it.
  double bin_probability(int k) const {
    const double x = -1.0 + 2.0 * k / 255.0;
    const double hi = k == 255 ? 1.0 : approx_cdf((x + 1.0 / 255.0 - mu) / s);
    const double lo = k == 0 ? 0.0 : approx_cdf((x - 1.0 / 255.0 - mu) / s);
    return hi - lo;
  }
  // The exact NLL of each image of x0 [B, 1, H, W] in bits per dimension, [B].
  Tensor nll_bits(const Tensor& x0) const {
    const int64_t B = x0.size(0), D = x0.numel() / B;
    std::vector<double> px = x0.to_vector<double>(), out(size_t(B), 0.0);
    for (int64_t i = 0; i < x0.numel(); ++i)
      out[size_t(i / D)] -= std::log2(bin_probability(int(std::nearbyint((px[size_t(i)] + 1.0) * 127.5)))) / double(D);
    return Tensor::from_vector(out, {B});
  }
  // n images [n, 1, 8, 8] of pixels drawn from the discretized Gaussian: round((x + 1) 127.5) clamped.
  Tensor sample(int64_t n, Generator& gen) const {
    std::vector<double> z = randn({n, 1, 8, 8}, kF64, &gen).to_vector<double>();
    for (double& x : z) x = -1.0 + 2.0 * std::clamp(std::nearbyint((mu + s * x + 1.0) * 127.5), 0.0, 255.0) / 255.0;
    return Tensor::from_vector(z, {n, 1, 8, 8});
  }
};

double mean_of(const Tensor& t) { return mean(t).item<double>(); }
double stderr_of(const Tensor& t) {
  return std::sqrt(var(t).item<double>() / double(t.numel()));
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("normal_kl is zero for equal Gaussians and matches the closed form - broadcasting") {
  Tensor m1 = tensor(std::vector<double>{0.0, 1.5, -2.0}, {3}, kF64), lv1 = tensor(std::vector<double>{0.0, -1.0, 2.0}, {3}, kF64);
  check_values(normal_kl(m1, lv1, m1, lv1), {0.0, 0.0, 0.0}, 1e-15);
  // KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
  const double m2 = 0.25, lv2 = -0.5;
  std::vector<double> want;
  for (int i = 0; i < 3; ++i) {
    const double a = m1.to_vector<double>()[size_t(i)], la = lv1.to_vector<double>()[size_t(i)];
    const double s1 = std::exp(0.5 * la), s2 = std::exp(0.5 * lv2);
    want.push_back(std::log(s2 / s1) + (s1 * s1 + (a - m2) * (a - m2)) / (2 * s2 * s2) - 0.5);
  }
  Tensor got = normal_kl(m1, lv1, full({1}, m2, kF64), full({}, lv2, kF64));  // [3] against [1] and []
  REQUIRE(got.shape() == Shape{3});
  check_values(got, want, 1e-13);
}

TEST_CASE("the discretized decoder's 256 bins sum to 1 - for tiny scales too") {
  for (double mean : {-1.3, -1.0, -0.2, 0.0, 0.5, 1.0 - 1.0 / 255.0, 1.0, 1.7})
    for (double log_scale : {1.0, -1.0, -3.0, -6.0, -12.0, -30.0}) {
      std::vector<double> p = bin_probabilities(mean, log_scale);
      double total = 0;
      for (double q : p) total += q;
      INFO("mean ", mean, ", log scale ", log_scale);
      // Each empty bin is floored at 1e-12, so up to 255e-12 more than 1. And where the mean sits on a bin
      // edge, that edge is computed twice (as x_k + 1/255 and as x_{k+1} - 1/255), the two roundings
      // differing by ~1e-16, which shifts the two bins' mass by ~1e-16 / scale (1e-3 at scale 1e-13).
      const double rounding = 4e-16 / std::exp(log_scale);
      CHECK(total >= 1.0 - 1e-12 - rounding);
      CHECK(total <= 1.0 + 256e-12 + rounding);
    }
  // A tiny scale with the mean 3 standard deviations above a bin's upper edge: the bin holds
  // Phi(-3) - Phi(-3 - width / scale) ~ 1.3e-3 of the mass, a difference of two numbers near 1 that the
  // upper-tail form keeps to full precision.
  const double scale = 1e-6, k = 100, edge = -1.0 + 2.0 * k / 255.0 + 1.0 / 255.0;
  std::vector<double> p = bin_probabilities(edge + 3 * scale, std::log(scale));
  CHECK(p[size_t(k)] == doctest::Approx(approx_cdf(-3.0)).epsilon(1e-9));
  CHECK(p[size_t(k) + 1] == doctest::Approx(1.0 - approx_cdf(-3.0)).epsilon(1e-9));
}

TEST_CASE("the discretized decoder is finite with finite gradients in float32 at extreme scales") {
  Tensor x = Tensor::from_vector(std::vector<float>{-1.0f, -0.5f, 0.0f, 1.0f}, {4});
  for (double log_scale : {-40.0, -10.0, 5.0}) {
    Tensor means = set_requires_grad(Tensor::from_vector(std::vector<float>{0.9f, -0.5f, 0.3f, -1.0f}, {4}));
    Tensor ls = set_requires_grad(full({4}, log_scale));
    Tensor logp = discretized_gaussian_log_likelihood(x, means, ls);
    backward(sum(logp));
    for (const Tensor& t : {logp, grad(means), grad(ls)})
      for (float v : t.to_vector<float>()) {
        INFO("log scale ", log_scale);
        CHECK(std::isfinite(v));
      }
    CHECK(logp.to_vector<float>()[0] >= std::log(1e-12f) - 1e-3f);  // at most 27.6 nats per pixel
  }
}

TEST_CASE("gradcheck: normal_kl and the discretized decoder") {
  Generator gen(3);
  Tensor m1 = set_requires_grad(randn({2, 3}, kF64, &gen)), lv1 = set_requires_grad(randn({2, 1}, kF64, &gen));
  Tensor m2 = set_requires_grad(randn({2, 3}, kF64, &gen)), lv2 = set_requires_grad(randn({3}, kF64, &gen));
  auto kl = [](const std::vector<Tensor>& in) { return normal_kl(in[0], in[1], in[2], in[3]); };
  GradcheckResult r = gradcheck(kl, {m1, lv1, m2, lv2});
  CHECK_MESSAGE(r.ok, r.report);
  // Pixels at both edges and inside; means and scales away from the branch points (x - mean = 0).
  Tensor x = Tensor::from_vector(std::vector<double>{-1.0, -1.0 + 2.0 * 40 / 255, 2.0 * 200 / 255 - 1.0, 1.0}, {4});
  Tensor means = set_requires_grad(Tensor::from_vector(std::vector<double>{-0.9, -0.55, 0.62, 0.8}, {4}));
  Tensor ls = set_requires_grad(Tensor::from_vector(std::vector<double>{-2.0, -3.5, -1.0, -2.5}, {4}));
  auto dec = [&x](const std::vector<Tensor>& in) { return discretized_gaussian_log_likelihood(x, in[0], in[1]); };
  r = gradcheck(dec, {means, ls});
  CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("the bound of the exact reverse process of Gaussian data is at least the data's NLL - and close") {
  // T = 1000 and the paper's linear schedule; pixels of a discretized N(0.1, 0.3^2).
  const GaussianData data{0.1, 0.3};
  Generator gen(11);
  Tensor x0 = data.sample(64, gen);  // [64, 1, 8, 8]: 4096 pixels
  const Tensor nll = data.nll_bits(x0);  // [64] each image's exact NLL, bits per dimension
  for (VarianceType v : {VarianceType::Beta, VarianceType::BetaTilde, VarianceType::LearnedRange}) {
    GaussianDiffusion d(config(1000, v, v == VarianceType::LearnedRange ? LossType::Hybrid : LossType::Simple));
    BpdResult r = d.calc_bpd_loop(data.exact_reverse(d.schedule(), v == VarianceType::LearnedRange), x0, gen,
                                  /*clip_denoised=*/false);
    REQUIRE(r.vb.shape() == Shape{64, 1000});
    // Per image, bound - NLL: the bound's excess, which the data's own spread does not blur.
    Tensor excess = r.total_bpd - nll;
    const double gap = mean_of(excess), se = stderr_of(excess);
    INFO(to_string(v), ": bound ", mean_of(r.total_bpd), ", NLL ", mean_of(nll), ", excess ", gap, " +- ", se,
         " bits/dim; prior term ", mean_of(r.prior_bpd), ", decoder ", mean_of(ops::select(r.vb, 1, 0)));
    // Any model's bound is at least the data's NLL (up to the Monte Carlo error of one x_t per t).
    CHECK(gap > -4 * se);
    CHECK(mean_of(r.prior_bpd) < 1e-4);  // x_T is nearly N(0, I) whatever x0
    // The exact reverse process with its true variances: within 0.1 bits/dim of the NLL (7.3), where
    // sigma^2 = beta-tilde is worse by almost a bit.
    if (v == VarianceType::LearnedRange) CHECK(gap < 0.1);
    if (v == VarianceType::BetaTilde) CHECK(gap > 0.5);
  }
}

TEST_CASE("learned-range variances interpolate log beta and log beta-tilde (eq. 15) - gradchecked") {
  GaussianDiffusion d(config(50, VarianceType::LearnedRange, LossType::Hybrid));
  const NoiseSchedule& s = d.schedule();
  Tensor x_t = zeros({3, 1, 2, 2}, kF64);
  Tensor t = steps({0, 7, 49});
  // v = -1 gives beta-tilde (clipped), v = 1 gives beta, v = 0 their geometric mean.
  for (double v : {-1.0, 0.0, 1.0}) {
    Tensor out = ops::cat({zeros({3, 1, 2, 2}, kF64), full({3, 1, 2, 2}, v, kF64)}, 1);
    Tensor logvar = d.p_mean_variance_of(out, x_t, t, false).log_variance;
    std::vector<double> want;
    for (int64_t ti : {0, 7, 49})
      for (int k = 0; k < 4; ++k)
        want.push_back((v + 1) / 2 * std::log(s.betas[size_t(ti)]) +
                       (1 - v) / 2 * s.posterior_log_variance_clipped[size_t(ti)]);
    check_values(logvar, want, 1e-12);
  }
  Generator gen(5);
  Tensor x0 = ops::clamp(randn({3, 1, 2, 2}, kF64, &gen), -1.0, 1.0);
  Tensor noise = randn({3, 1, 2, 2}, kF64, &gen);
  // The model's two halves as two inputs. In the hybrid loss the eps half's gradient is by design not
  // the derivative of the loss's value (L_vlb sees it detached: the next test checks that gradient), so
  // only v is gradchecked there; with the vlb loss both halves are.
  Tensor eps = set_requires_grad(0.5 * randn({3, 1, 2, 2}, kF64, &gen));
  Tensor v = set_requires_grad(0.5 * randn({3, 1, 2, 2}, kF64, &gen));
  for (LossType l : {LossType::Hybrid, LossType::Vlb}) {
    GaussianDiffusion dl(config(50, VarianceType::LearnedRange, l));
    const bool hybrid = l == LossType::Hybrid;
    auto f = [&](const std::vector<Tensor>& in) {
      Tensor out = cat({hybrid ? eps : in[0], in.back()}, 1);
      DenoiseModel model = [&out](const Tensor&, const Tensor&) { return out; };
      return dl.training_loss_terms(model, x0, steps({1, 20, 49}), noise).per_sample;
    };
    GradcheckResult r = hybrid ? gradcheck(f, {v}) : gradcheck(f, {eps, v});
    CHECK_MESSAGE(r.ok, to_string(l), ": ", r.report);
  }
}

TEST_CASE("the hybrid loss stops the mean's gradient inside L_vlb") {
  GaussianDiffusion hybrid(config(100, VarianceType::LearnedRange, LossType::Hybrid));
  Generator gen(9);
  Tensor x0 = ops::clamp(randn({4, 1, 4, 4}, kF64, &gen), -1.0, 1.0);
  Tensor noise = randn({4, 1, 4, 4}, kF64, &gen), t = steps({0, 3, 50, 99});
  Tensor out = set_requires_grad(0.3 * randn({4, 2, 4, 4}, kF64, &gen));
  DenoiseModel model = [&out](const Tensor&, const Tensor&) { return out; };
  LossTerms terms = hybrid.training_loss_terms(model, x0, t, noise);
  backward(terms.loss);
  Tensor g = grad(out);
  // The eps half: exactly the gradient of mean over the batch of L_simple, 2 (eps_theta - eps) / (B C H W).
  Tensor want = 2.0 * (ops::narrow(out, 1, 0, 1) - noise) / double(noise.numel());
  check_close(ops::narrow(g, 1, 0, 1), want, 1e-15, 1e-12);
  // The v half learns from L_vlb alone; and with the vlb loss the eps half learns from it too.
  CHECK(sum(abs(ops::narrow(g, 1, 1, 1))).item<double>() > 0);
  GaussianDiffusion vlb(config(100, VarianceType::LearnedRange, LossType::Vlb));
  Tensor out2 = set_requires_grad(out.clone());
  DenoiseModel model2 = [&out2](const Tensor&, const Tensor&) { return out2; };
  backward(vlb.training_loss_terms(model2, x0, t, noise).loss);
  CHECK(sum(abs(ops::narrow(grad(out2), 1, 0, 1) - want)).item<double>() > 1e-6);
  // The loss's value: mean over the batch of mse + lambda T vb.
  const double value = mean(terms.mse + 0.001 * 100 * terms.vb).item<double>();
  CHECK(terms.loss.item<double>() == doctest::Approx(value).epsilon(1e-14));
}

TEST_CASE("a respaced chain keeps the kept steps' alpha-bar - and S = T is the full chain") {
  GaussianDiffusion full_chain(config(200, VarianceType::BetaTilde));
  GaussianDiffusion r = full_chain.respaced(7);
  REQUIRE(r.T() == 7);
  const std::vector<int64_t> map = r.timestep_map();
  CHECK(map == std::vector<int64_t>{0, 33, 66, 100, 133, 166, 199});  // round(linspace(0, 199, 7)), half to even
  for (size_t i = 0; i < map.size(); ++i)
    CHECK(r.schedule().alphas_cumprod[i] == doctest::Approx(full_chain.schedule().alphas_cumprod[size_t(map[i])]).epsilon(1e-13));
  // The model sees the original timesteps.
  std::vector<int64_t> seen;
  DenoiseModel spy = [&seen](const Tensor& x, const Tensor& t) {
    for (int64_t v : t.to_vector<int64_t>()) seen.push_back(v);
    return zeros_like(x);
  };
  r.p_mean_variance(spy, zeros({2, 1, 2, 2}), steps({6, 2}));
  CHECK(seen == std::vector<int64_t>{199, 66});

  // S = T: the same samples as the full chain (the recomputed betas differ from the originals by rounding).
  const GaussianData data{0.0, 0.5};
  for (VarianceType v : {VarianceType::Beta, VarianceType::LearnedRange}) {
    GaussianDiffusion d(config(200, v, v == VarianceType::LearnedRange ? LossType::Hybrid : LossType::Simple));
    GaussianDiffusion same = d.respaced(200);
    DenoiseModel model = data.exact_reverse(d.schedule(), v == VarianceType::LearnedRange);
    Generator g1(4), g2(4);
    SampleOptions so;
    so.clip_denoised = false;
    Tensor a = d.p_sample_loop(model, {3, 1, 4, 4}, g1, so).x0;
    Tensor b = same.p_sample_loop(model, {3, 1, 4, 4}, g2, so).x0;
    INFO(to_string(v));
    check_close(a, b, 1e-5, 1e-5);
  }
  CHECK_THROWS_WITH_AS(full_chain.respaced(std::vector<int64_t>{3, 3}),
                       doctest::Contains("strictly increasing"), std::invalid_argument);
  CHECK_THROWS_AS(full_chain.respaced(0), std::invalid_argument);
  CHECK_THROWS_AS(full_chain.respaced(201), std::invalid_argument);
}

TEST_CASE("respaced DDPM with learned variances samples the data's Gaussian in a few steps") {
  // The exact reverse process's variances on a 25-step chain: the samples' moments stay those of the data.
  const GaussianData data{0.2, 0.5};
  GaussianDiffusion d(config(1000, VarianceType::LearnedRange, LossType::Hybrid));
  GaussianDiffusion r = d.respaced(25);
  // The exact model of the respaced chain: its own schedule, the original timesteps for the network.
  const NoiseSchedule& sched = r.schedule();
  DenoiseModel exact = data.exact_reverse(sched, true);
  std::vector<int64_t> inverse(1000, 0);
  for (int64_t i = 0; i < r.T(); ++i) inverse[size_t(r.timestep_map()[size_t(i)])] = i;
  DenoiseModel model = [&](const Tensor& x, const Tensor& t) {
    std::vector<int64_t> back;
    for (int64_t v : t.to_vector<int64_t>()) back.push_back(inverse[size_t(v)]);
    return exact(x, steps(back));
  };
  Generator gen(2);
  SampleOptions so;
  so.clip_denoised = false;
  std::vector<double> x = r.p_sample_loop(model, {64, 1, 16, 16}, gen, so).x0.to_vector<double>();
  double m = 0, v = 0;
  for (double e : x) m += e;
  m /= double(x.size());
  for (double e : x) v += (e - m) * (e - m);
  v /= double(x.size() - 1);
  CHECK(std::abs(m - 0.2) < 4 * 0.5 / std::sqrt(double(x.size())));
  CHECK(std::abs(std::sqrt(v) - 0.5) < 0.01);
}

TEST_CASE("t steps of q_step (eq. 2) from x0 give q_sample's closed form (eq. 4) in distribution") {
  GaussianDiffusion d(config(200, VarianceType::Beta));
  const NoiseSchedule& s = d.schedule();
  Generator gen(8);
  const int64_t n = 20000;
  Tensor x0 = full({n, 1}, 0.6, kF64), x = x0;  // every sample starts at 0.6
  for (int64_t t = 0; t < 150; ++t) {
    x = d.q_step(x, full({n}, double(t), TensorOptions(DType::Int64)), randn({n, 1}, kF64, &gen));
    if (t == 0 || t == 49 || t == 149) {
      // q(x_t | x0) = N(sqrt(abar_t) x0, 1 - abar_t): the mean within 4 standard errors, the variance
      // within 4 of its own (sqrt(2 / n) relative for a Gaussian).
      const double m = mean(x).item<double>(), v = var(x).item<double>();
      const double want_m = std::sqrt(s.alphas_cumprod[size_t(t)]) * 0.6, want_v = 1.0 - s.alphas_cumprod[size_t(t)];
      INFO("t ", t, ": mean ", m, " vs ", want_m, ", variance ", v, " vs ", want_v);
      CHECK(std::abs(m - want_m) < 4 * std::sqrt(want_v / double(n)));
      CHECK(std::abs(v - want_v) < 4 * want_v * std::sqrt(2.0 / double(n)));
    }
  }
  CHECK_THROWS_AS(d.q_step(x0, steps({0}), zeros_like(x0)), std::invalid_argument);  // t of the wrong size
}

TEST_CASE("loss and variance settings: bad combinations are refused - metadata round-trips") {
  CHECK_THROWS_WITH_AS(GaussianDiffusion(config(10, VarianceType::LearnedRange, LossType::Simple)),
                       doctest::Contains("use the hybrid or vlb loss"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(GaussianDiffusion(config(10, VarianceType::Beta, LossType::Hybrid)),
                       doctest::Contains("L_vlb trains nothing"), std::invalid_argument);
  DiffusionConfig c = config(10, VarianceType::LearnedRange, LossType::Hybrid);
  c.vlb_weight = 0.25;
  DiffusionConfig back = DiffusionConfig::from_metadata(c.to_metadata());
  CHECK(back.variance == VarianceType::LearnedRange);
  CHECK(back.loss == LossType::Hybrid);
  CHECK(back.vlb_weight == 0.25);
  // lambda belongs to the hybrid loss alone: the vlb loss records none (so it cannot block a resume).
  c.loss = LossType::Vlb;
  CHECK(c.to_metadata().count("diffusion.vlb_weight") == 0);
  CHECK(DiffusionConfig::from_metadata(c.to_metadata()).loss == LossType::Vlb);
  // A checkpoint from before the loss was recorded reads as the simple loss.
  auto old = config(10, VarianceType::Beta).to_metadata();
  old.erase("diffusion.loss");
  old.erase("diffusion.vlb_weight");
  CHECK(DiffusionConfig::from_metadata(old).loss == LossType::Simple);
  CHECK_THROWS_WITH_AS(parse_loss("l1"), doctest::Contains("simple, hybrid, vlb"), std::invalid_argument);
  // A learned-range model must output 2C channels.
  GaussianDiffusion d(config(10, VarianceType::LearnedRange, LossType::Hybrid));
  CHECK_THROWS_WITH_AS(d.p_mean_variance_of(zeros({1, 1, 2, 2}), zeros({1, 1, 2, 2}), steps({3})),
                       doctest::Contains("expected twice"), std::invalid_argument);
}

}  // TEST_SUITE

TEST_SUITE("cuda") {

// The bound's terms are built from ops that each have their CUDA kernel and parity test; this checks
// the compositions on the GPU against the CPU: the KL, the decoder, a learned-range vb term, the hybrid
// loss with its gradient, and a respaced learned-range sampler step.
TEST_CASE("cuda the bound's terms - the hybrid loss and a respaced step match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const Device gpu = Device::cuda();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const std::string dtype = dtype_name(dt);
    CAPTURE(dtype);
    const double tol = dt == DType::Float64 ? 1e-10 : 1e-4;  // exp, log and tanh round differently on each
    // Inputs drawn once on the CPU, then copied: the same numbers on both devices.
    Generator gen(21);
    const TensorOptions on(dt);
    const Tensor x0 = ops::clamp(randn({3, 1, 4, 4}, on, &gen), -1.0, 1.0), noise = randn({3, 1, 4, 4}, on, &gen);
    const Tensor out = 0.4 * randn({3, 2, 4, 4}, on, &gen), lv = randn({3, 1, 4, 4}, on, &gen);
    const Tensor t = steps({0, 17, 99});
    GaussianDiffusion d(config(100, VarianceType::LearnedRange, LossType::Hybrid));
    test::check_parity([&](Device dev) { return normal_kl(x0.to(dev), lv.to(dev), noise.to(dev), 0.5 * lv.to(dev)); },
                       gpu, tol, tol);
    test::check_parity([&](Device dev) {
      return discretized_gaussian_log_likelihood(x0.to(dev), noise.to(dev), -2.0 + 0.0 * lv.to(dev));
    }, gpu, tol, tol);
    auto model_of = [&](Device dev) {
      Tensor o = out.to(dev);
      return DenoiseModel([o](const Tensor&, const Tensor&) { return o; });
    };
    test::check_parity([&](Device dev) {
      Tensor x_t = d.q_sample(x0.to(dev), t, noise.to(dev));
      return d.vb_terms_bpd(model_of(dev), x0.to(dev), x_t, t, false);
    }, gpu, tol, tol);
    test::check_parity([&](Device dev) {
      Tensor leaf = set_requires_grad(out.clone().to(dev));  // a fresh leaf per run
      DenoiseModel m = [leaf](const Tensor&, const Tensor&) { return leaf; };
      LossTerms terms = d.training_loss_terms(m, x0.to(dev), t, noise.to(dev));
      backward(terms.loss);
      Tensor g = grad(leaf);
      return ops::cat({terms.per_sample, ops::reshape(g, {g.numel()})}, 0);
    }, gpu, tol, tol);
    GaussianDiffusion r = d.respaced(10);
    test::check_parity([&](Device dev) {
      Generator g(5);  // Philox draws the same noise on every device
      return r.p_sample(model_of(dev), noise.to(dev), steps({9, 4, 0}), g, true);
    }, gpu, tol, tol);
  }
}

}  // TEST_SUITE("cuda")
