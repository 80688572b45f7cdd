// The noise schedules and the forward process (Ho et al. 2020, eqs. 4, 6-7): schedule tables against
// independently computed numbers, the posterior identities, q_sample and the eps / x0 / v conversions,
// the DDIM timesteps, names and metadata, and the error messages.
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

Tensor steps(const std::vector<int64_t>& t) { return Tensor::from_vector<int64_t>(t, {int64_t(t.size())}); }

// |a - b| <= rel * |b| (or <= 1e-300 when b is 0)
void check_rel(double a, double b, double rel, const char* what, int64_t t) {
  CHECK_MESSAGE(std::fabs(a - b) <= rel * std::fabs(b) + 1e-300, what, " at t=", t, ": ", a, " vs ", b);
}

// One row of reference values: t, beta, abar, abar_prev, sqrt(1/abar - 1), beta-tilde,
// log beta-tilde (clipped), posterior mean coef1, coef2.
struct Row { int64_t t; double beta, abar, abar_prev, sqrt_recipm1, post_var, post_log_var, coef1, coef2; };

void check_rows(const NoiseSchedule& s, const std::vector<Row>& rows) {
  const double rel = 1e-10;  // the tables are float64 running products: ~1e-13 relative error after 1000 steps
  for (const Row& r : rows) {
    size_t t = size_t(r.t);
    check_rel(s.betas[t], r.beta, rel, "beta", r.t);
    check_rel(s.alphas[t], 1.0 - r.beta, rel, "alpha", r.t);
    check_rel(s.alphas_cumprod[t], r.abar, rel, "abar", r.t);
    check_rel(s.alphas_cumprod_prev[t], r.abar_prev, rel, "abar_prev", r.t);
    check_rel(s.sqrt_alphas_cumprod[t], std::sqrt(r.abar), rel, "sqrt(abar)", r.t);
    check_rel(s.sqrt_one_minus_alphas_cumprod[t], std::sqrt(1.0 - r.abar), rel, "sqrt(1-abar)", r.t);
    check_rel(s.log_one_minus_alphas_cumprod[t], std::log(1.0 - r.abar), rel, "log(1-abar)", r.t);
    check_rel(s.sqrt_recip_alphas_cumprod[t], 1.0 / std::sqrt(r.abar), rel, "sqrt(1/abar)", r.t);
    check_rel(s.sqrt_recipm1_alphas_cumprod[t], r.sqrt_recipm1, rel, "sqrt(1/abar-1)", r.t);
    check_rel(s.posterior_variance[t], r.post_var, rel, "beta-tilde", r.t);
    check_rel(s.posterior_log_variance_clipped[t], r.post_log_var, rel, "log beta-tilde clipped", r.t);
    check_rel(s.posterior_mean_coef1[t], r.coef1, rel, "coef1", r.t);
    check_rel(s.posterior_mean_coef2[t], r.coef2, rel, "coef2", r.t);
  }
}

GaussianDiffusion make_diffusion(BetaSchedule s = BetaSchedule::Linear, int64_t T = 1000) {
  DiffusionConfig c;
  c.schedule = s;
  c.T = T;
  return GaussianDiffusion(c);
}

}  // namespace

TEST_SUITE("cpu") {

// The numbers below were computed with plain Python floats by a short script (not this code): linear betas
// as 1e-4 + (0.02 - 1e-4) t / 999, abar_t = exp(fsum(log1p(-beta_s), s <= t)) rather than a running
// product, and the rest from the eq. 7 formulas.
TEST_CASE("linear schedule values at t 0 1 500 999") {
  NoiseSchedule s(make_betas(BetaSchedule::Linear, 1000));
  REQUIRE(s.T == 1000);
  for (auto* v : {&s.betas, &s.alphas_cumprod, &s.alphas_cumprod_prev, &s.posterior_variance,
                  &s.posterior_log_variance_clipped, &s.posterior_mean_coef1, &s.posterior_mean_coef2})
    CHECK(v->size() == 1000);
  check_rows(s, {
      {0, 0.0001, 0.9999, 1.0, 0.01000050003749898, 0.0, -9.81672513529567, 1.0000000000001101, 0.0},
      {1, 0.00011991991991991993, 0.9997800920720721, 0.9999, 0.014830923708980388, 5.4531876613021935e-05,
       -9.81672513529567, 0.5452914995102903, 0.4547084989905303},
      {500, 0.01005995995995996, 0.07779665836502389, 0.07858724288177824, 3.4429671125258228,
       0.010051335778909595, -4.600049739984907, 0.0030580570756296205, 0.9941043507567258},
      {999, 0.02, 4.0358297653756794e-05, 4.1181936381384484e-05, 157.4072808104075, 0.01999998352656061,
       -3.912023829100455, 0.00012835148717224687, 0.9899486782675173},
  });
}

// Computed with plain Python floats: f(u) = cos((u/T + 0.008)/1.008 pi/2)^2, beta_t = min(1 -
// f(t+1)/f(t), 0.999), and abar_t by the telescoped product f(t+1)/f(0) (the cap only bites at t = 999,
// where abar_999 = f(999)/f(0) * 0.001).
TEST_CASE("cosine schedule values at t 0 1 500 999") {
  NoiseSchedule s(make_betas(BetaSchedule::Cosine, 1000));
  check_rows(s, {
      {0, 4.128422482196914e-05, 0.999958715775178, 1.0, 0.006425412771141183, 0.0, -10.734082532465003, 1.0, 0.0},
      {1, 4.614175273665033e-05, 0.9999125759273678, 0.999958715775178, 0.009350492835615898,
       2.178949614569182e-05, -10.734082532465003, 0.5277814093344871, 0.47221859042675934},
      {500, 0.003155691441585007, 0.4922851724488026, 0.49384359044063775, 1.0155505505195113,
       0.0031460051254634824, -5.761621845147288, 0.004367866899526324, 0.9953562794552251},
      {999, 0.999, 2.428766907034851e-09, 2.428766907034851e-06, 20291.169610019908, 0.9989975760881921,
       -0.0010029266746731796, 0.0015568917154901692, 0.03162269987413465},
  });
  // beta_start / beta_end do not change the cosine schedule.
  CHECK(make_betas(BetaSchedule::Cosine, 1000, 1e-3, 0.5) == s.betas);
}

TEST_CASE("quadratic schedule and short schedules") {
  // Python: (sqrt(1e-4) + (sqrt(0.02) - sqrt(1e-4)) t / 999)^2
  std::vector<double> b = make_betas(BetaSchedule::Quadratic, 1000);
  REQUIRE(b.size() == 1000);
  const std::vector<std::pair<int64_t, double>> expected = {
      {0, 0.0001}, {1, 0.00010264836435083402}, {500, 0.00574207106768848}, {999, 0.02}};
  for (auto [t, v] : expected) check_rel(b[size_t(t)], v, 1e-12, "quadratic beta", t);
  for (size_t t = 1; t < b.size(); ++t) REQUIRE(b[t] > b[t - 1]);

  // T = 1: linspace gives beta_start; beta-tilde_0 = 0 has no t = 1 to borrow from, so its log is log beta_0.
  NoiseSchedule one(make_betas(BetaSchedule::Linear, 1, 0.1, 0.2));
  REQUIRE(one.T == 1);
  CHECK(one.betas[0] == 0.1);
  CHECK(one.posterior_variance[0] == 0.0);
  CHECK(one.posterior_log_variance_clipped[0] == doctest::Approx(std::log(0.1)));
  CHECK(make_betas(BetaSchedule::Linear, 2, 0.1, 0.2) == std::vector<double>{0.1, 0.2});
}

TEST_CASE("schedule identities hold at every t") {
  for (BetaSchedule kind : {BetaSchedule::Linear, BetaSchedule::Cosine, BetaSchedule::Quadratic}) {
    CAPTURE(to_string(kind));
    NoiseSchedule s(make_betas(kind, 1000));
    CHECK(s.alphas_cumprod_prev[0] == 1.0);
    for (size_t t = 0; t < 1000; ++t) {
      const double beta = s.betas[t], ab = s.alphas_cumprod[t], abp = s.alphas_cumprod_prev[t];
      if (t > 0) REQUIRE(abp == s.alphas_cumprod[t - 1]);
      REQUIRE(ab == doctest::Approx(abp * (1.0 - beta)).epsilon(1e-14));
      // Bayes for q(x_{t-1} | x_t, x0): 1 / beta-tilde = 1 / (1 - abar_{t-1}) + alpha_t / beta_t (eq. 7)
      if (t > 0) REQUIRE(1.0 / s.posterior_variance[t] == doctest::Approx(1.0 / (1.0 - abp) + (1.0 - beta) / beta).epsilon(1e-9));
      // Integrating x_t ~ q(x_t | x0) out of the posterior gives q(x_{t-1} | x0) = N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}):
      REQUIRE(s.posterior_mean_coef1[t] + s.posterior_mean_coef2[t] * std::sqrt(ab) == doctest::Approx(std::sqrt(abp)).epsilon(1e-12));
      REQUIRE(s.posterior_variance[t] + s.posterior_mean_coef2[t] * s.posterior_mean_coef2[t] * (1.0 - ab) ==
              doctest::Approx(1.0 - abp).epsilon(1e-12));
      if (t > 0) REQUIRE(s.posterior_log_variance_clipped[t] == doctest::Approx(std::log(s.posterior_variance[t])).epsilon(1e-14));
    }
    CHECK(s.posterior_log_variance_clipped[0] == s.posterior_log_variance_clipped[1]);
  }
}

TEST_CASE("q_posterior_mean_variance matches eq 7 per sample") {
  GaussianDiffusion d = make_diffusion();
  const NoiseSchedule& s = d.schedule();
  const std::vector<int64_t> ts = {0, 1, 500, 999};
  Tensor x0 = randn({4, 2, 3, 3}, DType::Float64), x_t = randn({4, 2, 3, 3}, DType::Float64);
  GaussianDiffusion::Posterior p = d.q_posterior_mean_variance(x0, x_t, steps(ts));
  REQUIRE(p.mean.shape() == Shape{4, 2, 3, 3});
  REQUIRE(p.variance.shape() == Shape{4, 1, 1, 1});
  std::vector<double> a = x0.to_vector<double>(), b = x_t.to_vector<double>(), want(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    size_t t = size_t(ts[i / 18]);
    want[i] = s.posterior_mean_coef1[t] * a[i] + s.posterior_mean_coef2[t] * b[i];
  }
  check_values(p.mean, want, 1e-13);
  check_values(p.variance, {s.posterior_variance[0], s.posterior_variance[1], s.posterior_variance[500], s.posterior_variance[999]}, 1e-15);
  check_values(p.log_variance, {s.posterior_log_variance_clipped[0], s.posterior_log_variance_clipped[1],
                                s.posterior_log_variance_clipped[500], s.posterior_log_variance_clipped[999]}, 1e-13);
  // At t = 0 the posterior puts all its mass on x0 (coef1 = 1, coef2 = 0).
  check_close(ops::select(p.mean, 0, 0), ops::select(x0, 0, 0), 1e-12);
  // float32 inputs give float32 coefficients and results.
  GaussianDiffusion::Posterior p32 = d.q_posterior_mean_variance(x0.to(DType::Float32), x_t.to(DType::Float32), steps(ts));
  CHECK(p32.mean.dtype() == DType::Float32);
  check_close(p32.mean, p.mean, 1e-5, 1e-5);
}

TEST_CASE("q_sample is eq 4 and has its mean and variance") {
  GaussianDiffusion d = make_diffusion();
  const NoiseSchedule& s = d.schedule();
  // Exact: float64 against the formula per element.
  Tensor x0 = randn({3, 1, 4, 4}, DType::Float64), noise = randn({3, 1, 4, 4}, DType::Float64);
  const std::vector<int64_t> ts = {999, 0, 250};
  Tensor x_t = d.q_sample(x0, steps(ts), noise);
  std::vector<double> a = x0.to_vector<double>(), e = noise.to_vector<double>(), want(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    size_t t = size_t(ts[i / 16]);
    want[i] = std::sqrt(s.alphas_cumprod[t]) * a[i] + std::sqrt(1.0 - s.alphas_cumprod[t]) * e[i];
  }
  check_values(x_t, want, 1e-14);

  // Statistics: many draws of x_t from a constant x0 per sample have mean sqrt(abar) x0 and variance 1 - abar.
  Generator gen(7);
  const int64_t n = 100000;
  const std::vector<int64_t> ts2 = {100, 700};
  const std::vector<double> x0v = {0.5, -0.8};
  Tensor x0c = ops::expand(tensor(x0v, {2, 1, 1}), {2, 1, n});
  Tensor xs = d.q_sample(x0c, steps(ts2), randn({2, 1, n}, {}, &gen));
  std::vector<double> mean = ops::mean(xs, {1, 2}).to_vector<double>(), var = ops::var(xs, {1, 2}).to_vector<double>();
  for (size_t b = 0; b < 2; ++b) {
    const double ab = s.alphas_cumprod[size_t(ts2[b])], sd = std::sqrt(1.0 - ab);
    CHECK(std::fabs(mean[b] - std::sqrt(ab) * x0v[b]) < 5.0 * sd / std::sqrt(double(n)));
    CHECK(std::fabs(var[b] - (1.0 - ab)) < 5.0 * (1.0 - ab) * std::sqrt(2.0 / double(n)));
  }
}

TEST_CASE("predict_x0_from_eps and predict_eps_from_x0 invert q_sample") {
  GaussianDiffusion d = make_diffusion(BetaSchedule::Cosine);
  const std::vector<int64_t> ts = {0, 1, 17, 500, 998, 999};
  Tensor t = steps(ts);
  Tensor x0 = randn({6, 3, 2, 2}, DType::Float64), eps = randn({6, 3, 2, 2}, DType::Float64);
  Tensor x_t = d.q_sample(x0, t, eps);
  // sqrt(1/abar - 1) reaches 2e4 at t = 999 of the cosine schedule: absolute error grows with it.
  check_close(d.predict_x0_from_eps(x_t, t, eps), x0, 1e-10, 1e-10);
  check_close(d.predict_eps_from_x0(x_t, t, x0), eps, 1e-10, 1e-10);
  // float32 as well, at a t where the coefficients are moderate.
  Tensor t32 = steps({10, 100, 300, 500, 700, 900});
  Tensor x_t32 = d.q_sample(x0.to(DType::Float32), t32, eps.to(DType::Float32));
  check_close(d.predict_x0_from_eps(x_t32, t32, eps.to(DType::Float32)), x0, 1e-4, 1e-4);
}

TEST_CASE("v conversions are consistent") {
  GaussianDiffusion d = make_diffusion();
  const NoiseSchedule& s = d.schedule();
  const std::vector<int64_t> ts = {0, 3, 400, 999};
  Tensor t = steps(ts);
  Tensor x0 = randn({4, 1, 3, 3}, DType::Float64), eps = randn({4, 1, 3, 3}, DType::Float64);
  Tensor x_t = d.q_sample(x0, t, eps);
  Tensor v = d.v_from_x0_eps(x0, t, eps);
  std::vector<double> a = x0.to_vector<double>(), e = eps.to_vector<double>(), want(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    size_t k = size_t(ts[i / 9]);
    want[i] = std::sqrt(s.alphas_cumprod[k]) * e[i] - std::sqrt(1.0 - s.alphas_cumprod[k]) * a[i];
  }
  check_values(v, want, 1e-14);
  check_close(d.predict_x0_from_v(x_t, t, v), x0, 1e-12, 1e-12);
  check_close(d.predict_eps_from_v(x_t, t, v), eps, 1e-12, 1e-12);
}

TEST_CASE("ddim timesteps") {
  GaussianDiffusion d = make_diffusion();
  // round(numpy.linspace(0, 999, S))[::-1], rounding half to even (499.5 -> 500, 166.5 -> 166, 832.5 -> 832)
  CHECK(d.ddim_timesteps(1) == std::vector<int64_t>{999});  // one step from pure noise, not linspace's 0
  CHECK(d.ddim_timesteps(2) == std::vector<int64_t>{999, 0});
  CHECK(d.ddim_timesteps(3) == std::vector<int64_t>{999, 500, 0});
  CHECK(d.ddim_timesteps(4) == std::vector<int64_t>{999, 666, 333, 0});
  CHECK(d.ddim_timesteps(7) == std::vector<int64_t>{999, 832, 666, 500, 333, 166, 0});
  CHECK(d.ddim_timesteps(10) == std::vector<int64_t>{999, 888, 777, 666, 555, 444, 333, 222, 111, 0});
  std::vector<int64_t> t50 = d.ddim_timesteps(50);
  REQUIRE(t50.size() == 50);
  CHECK(std::vector<int64_t>(t50.begin(), t50.begin() + 5) == std::vector<int64_t>{999, 979, 958, 938, 917});
  CHECK(std::vector<int64_t>(t50.end() - 5, t50.end()) == std::vector<int64_t>{82, 61, 41, 20, 0});
  for (int64_t S : {999, 1000}) {
    std::vector<int64_t> tau = d.ddim_timesteps(S);
    REQUIRE(int64_t(tau.size()) == S);
    CHECK(tau.front() == 999);
    CHECK(tau.back() == 0);
    for (size_t i = 1; i < tau.size(); ++i) REQUIRE(tau[i] < tau[i - 1]);
  }
}

TEST_CASE("names and metadata round trip") {
  for (const char* n : {"linear", "cosine", "quadratic"}) CHECK(to_string(parse_beta_schedule(n)) == n);
  for (const char* n : {"eps", "x0", "v"}) CHECK(to_string(parse_objective(n)) == n);
  for (const char* n : {"beta", "beta-tilde"}) CHECK(to_string(parse_variance(n)) == n);

  DiffusionConfig c;
  c.schedule = BetaSchedule::Quadratic;
  c.T = 250;
  c.beta_start = 3e-4;
  c.beta_end = 0.0371;
  c.objective = Objective::V;
  c.variance = VarianceType::BetaTilde;
  std::map<std::string, std::string> m = c.to_metadata();
  CHECK(m.at("diffusion.T") == "250");
  CHECK(m.at("diffusion.schedule") == "quadratic");
  m["unet.ch"] = "16";  // other keys are ignored
  DiffusionConfig back = DiffusionConfig::from_metadata(m);
  CHECK(back.schedule == c.schedule);
  CHECK(back.T == c.T);
  CHECK(back.beta_start == c.beta_start);
  CHECK(back.beta_end == c.beta_end);
  CHECK(back.objective == c.objective);
  CHECK(back.variance == c.variance);
  CHECK(DiffusionConfig::from_metadata(DiffusionConfig().to_metadata()).T == 1000);
}

TEST_CASE("coefficients gathered on the device equal the host tables at any t layout") {
  // q_sample(x0 = 1, noise = 0) is sqrt(abar_t) and q_sample(0, 1) is sqrt(1 - abar_t), per sample:
  // the cached device tables gathered at t give exactly the float64 host values (float32: rounded once).
  GaussianDiffusion d = make_diffusion(BetaSchedule::Cosine, 100);
  const NoiseSchedule& s = d.schedule();
  const std::vector<int64_t> ts = {0, 99, 42, 42, 7};
  const Shape shape = {5, 1, 2, 2};
  for (DType dtype : {DType::Float64, DType::Float32}) {
    CAPTURE(dtype_name(dtype));
    Tensor one = ones(shape, dtype), zero = zeros(shape, dtype);
    // int64, int32 and a strided view of a larger int64 tensor (every other element, from 1).
    std::vector<int64_t> wide(11, 1000);
    for (size_t i = 0; i < ts.size(); ++i) wide[2 * i + 1] = ts[i];
    const Tensor strided = ops::slice(Tensor::from_vector<int64_t>(wide, {11}), 0, 1, 11, 2);
    REQUIRE(!strided.is_contiguous());
    for (const Tensor& t : {steps(ts), steps(ts).to(DType::Int32), strided}) {
      Tensor a = ops::reshape(d.q_sample(one, t, zero), {5, 4}), b = ops::reshape(d.q_sample(zero, t, one), {5, 4});
      for (size_t i = 0; i < ts.size(); ++i) {
        const double want_a = s.sqrt_alphas_cumprod[size_t(ts[i])], want_b = s.sqrt_one_minus_alphas_cumprod[size_t(ts[i])];
        const std::vector<double> got_a = ops::select(a, 0, int64_t(i)).to_vector<double>();
        const std::vector<double> got_b = ops::select(b, 0, int64_t(i)).to_vector<double>();
        for (double v : got_a) CHECK(v == (dtype == DType::Float64 ? want_a : double(float(want_a))));
        for (double v : got_b) CHECK(v == (dtype == DType::Float64 ? want_b : double(float(want_b))));
      }
    }
  }
  // The range check reads the view's own elements, not its neighbours in storage (which are 1000).
  std::vector<int64_t> wide = {1000, 3, 1000, 100, 1000};
  const Tensor strided = ops::slice(Tensor::from_vector<int64_t>(wide, {5}), 0, 1, 5, 2);  // {3, 100}
  Tensor x = zeros({2, 1, 2, 2});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, strided, x); }, {"q_sample", "t has 100", "[0, 100)"});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, steps({5, 100}).to(DType::Int32), x); },
                                               {"t has 100", "[0, 100)"});
}

TEST_CASE("bad schedule and forward process inputs throw with messages") {
  check_throws_with_all<std::invalid_argument>([] { parse_beta_schedule("cos"); }, {"cos", "linear", "cosine", "quadratic"});
  check_throws_with_all<std::invalid_argument>([] { parse_objective("noise"); }, {"noise", "eps", "x0", "v"});
  check_throws_with_all<std::invalid_argument>([] { parse_variance("large"); }, {"large", "beta", "beta-tilde"});
  check_throws_with<std::invalid_argument>([] { make_betas(BetaSchedule::Linear, 0); }, "T >= 1");
  // T comes from checkpoints too: a huge one is refused before its tables are allocated.
  check_throws_with<std::invalid_argument>([] { make_betas(BetaSchedule::Linear, int64_t(1) << 50); },
                                           "at most 1000000");
  check_throws_with<std::invalid_argument>([] { make_betas(BetaSchedule::Linear, 10, 0.02, 0.01); }, "beta_start <= beta_end");
  check_throws_with<std::invalid_argument>([] { make_betas(BetaSchedule::Linear, 10, 0.0, 0.01); }, "0 < beta_start");
  check_throws_with<std::invalid_argument>([] { make_betas(BetaSchedule::Quadratic, 10, 0.1, 1.0); }, "beta_end < 1");
  check_throws_with<std::invalid_argument>([] { NoiseSchedule({0.1, 1.0}); }, "beta[1]");
  check_throws_with<std::invalid_argument>([] { NoiseSchedule(std::vector<double>{}); }, "T >= 1");

  GaussianDiffusion d = make_diffusion(BetaSchedule::Linear, 100);
  Tensor x = randn({2, 1, 4, 4});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, steps({1, 2}), randn({2, 1, 4, 5})); },
                                               {"q_sample", "noise", "[2, 1, 4, 4]"});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, steps({1, 2, 3}), x); }, {"q_sample", "t", "[2]"});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, steps({1, 100}), x); }, {"q_sample", "100", "[0, 100)"});
  check_throws_with_all<std::invalid_argument>([&] { d.predict_x0_from_eps(x, steps({-1, 0}), x); }, {"-1", "[0, 100)"});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, tensor({1.0, 2.0}), x); }, {"q_sample", "int64"});
  check_throws_with_all<std::invalid_argument>([&] { d.q_sample(x, Tensor(), x); }, {"q_sample", "t is undefined"});
  check_throws_with_all<std::invalid_argument>([&] { d.ddim_timesteps(0); }, {"ddim_timesteps", "S is 0", "1 <= S <= T = 100"});
  check_throws_with_all<std::invalid_argument>([&] { d.ddim_timesteps(101); }, {"S is 101"});

  std::map<std::string, std::string> m = DiffusionConfig().to_metadata();
  auto without = [&](const std::string& key) { auto c = m; c.erase(key); return c; };
  auto with = [&](const std::string& key, const std::string& value) { auto c = m; c[key] = value; return c; };
  check_throws_with<std::invalid_argument>([&] { DiffusionConfig::from_metadata(without("diffusion.T")); }, "no key diffusion.T");
  check_throws_with<std::invalid_argument>([&] { DiffusionConfig::from_metadata(with("diffusion.T", "10x")); }, "not an integer");
  check_throws_with<std::invalid_argument>([&] { DiffusionConfig::from_metadata(with("diffusion.T", "0")); }, "T >= 1");
  check_throws_with<std::invalid_argument>([&] { DiffusionConfig::from_metadata(with("diffusion.beta_end", "")); }, "not a number");
  check_throws_with_all<std::invalid_argument>([&] { DiffusionConfig::from_metadata(with("diffusion.schedule", "sigmoid")); },
                                               {"diffusion.schedule", "sigmoid", "linear, cosine, quadratic"});
}

}  // TEST_SUITE
