// The reverse process and training (Ho et al. 2020, Algorithms 1 and 2; DDIM, Song et al. 2021) with the
// exact denoiser of a Gaussian data set: data x0 ~ N(mu, s^2) per element makes x_t ~ N(sqrt(abar) mu,
// abar s^2 + 1 - abar), and E[x0 | x_t], E[eps | x_t] are affine in x_t, so the samplers must return
// that Gaussian (up to their known discretization error, which is computed here exactly).
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "gaussian_data.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

Tensor steps(const std::vector<int64_t>& t) { return Tensor::from_vector<int64_t>(t, {int64_t(t.size())}); }

GaussianDiffusion make_diffusion(int64_t T = 1000, Objective o = Objective::Eps, VarianceType v = VarianceType::Beta) {
  DiffusionConfig c;
  c.T = T;
  c.objective = o;
  c.variance = v;
  return GaussianDiffusion(c);
}

// Every sampler step with this model is x_prev = a x + b + sigma z: the mean and variance of the samples
// follow exactly from x_T ~ N(0, 1). These are the float64 reference numbers the samples must match.
struct Moments { double mean = 0.0, var = 1.0; };

Moments ddpm_moments(const NoiseSchedule& s, const Gaussian& g, VarianceType vt) {
  Moments m;
  for (int64_t t = s.T - 1; t >= 0; --t) {
    double A, C;
    g.affine(s.alphas_cumprod[size_t(t)], Objective::X0, A, C);
    const double c1 = s.posterior_mean_coef1[size_t(t)], c2 = s.posterior_mean_coef2[size_t(t)];
    const double a = c1 * A + c2, b = c1 * C;  // mean = coef1 E[x0 | x_t] + coef2 x_t  (eq. 7)
    m.mean = a * m.mean + b;
    m.var = a * a * m.var + (t > 0 ? (vt == VarianceType::Beta ? s.betas[size_t(t)] : s.posterior_variance[size_t(t)]) : 0.0);
  }
  return m;
}

Moments ddim_moments(const NoiseSchedule& s, const std::vector<int64_t>& tau, double eta, const Gaussian& g) {
  Moments m;
  for (size_t i = 0; i < tau.size(); ++i) {
    const double ab = s.alphas_cumprod[size_t(tau[i])], ap = i + 1 < tau.size() ? s.alphas_cumprod[size_t(tau[i + 1])] : 1.0;
    double xA, xC, eA, eC;
    g.affine(ab, Objective::X0, xA, xC);
    g.affine(ab, Objective::Eps, eA, eC);
    const double sigma = eta * std::sqrt((1 - ap) / (1 - ab) * (1 - ab / ap));
    const double k = std::sqrt(std::max(0.0, 1 - ap - sigma * sigma));
    const double a = std::sqrt(ap) * xA + k * eA, b = std::sqrt(ap) * xC + k * eC;
    m.mean = a * m.mean + b;
    m.var = a * a * m.var + sigma * sigma;
  }
  return m;
}

// Sample mean within z standard errors of `mean`, sample variance within z standard errors of `var`
// (the standard error of a Gaussian sample variance is var sqrt(2 / (n - 1))).
void check_moments(const Tensor& x, double mean, double var, double z, const char* what) {
  std::vector<double> v = x.to_vector<double>();
  const double n = double(v.size());
  double m = 0.0, q = 0.0;
  for (double e : v) m += e;
  m /= n;
  for (double e : v) q += (e - m) * (e - m);
  q /= n - 1;
  const double se_mean = std::sqrt(var / n), se_var = var * std::sqrt(2.0 / (n - 1));
  CHECK_MESSAGE(std::fabs(m - mean) < z * se_mean, what, ": sample mean ", m, " vs ", mean, " (", z, " x se ", se_mean, ")");
  CHECK_MESSAGE(std::fabs(q - var) < z * se_var, what, ": sample variance ", q, " vs ", var, " (", z, " x se ", se_var, ")");
}

const Shape kBig = {1024, 1, 4, 4};  // 16384 independent scalars: standard error 1.1% of the variance
const double kZ = 4.5;

SampleOptions no_clip() {
  SampleOptions o;
  o.clip_denoised = false;
  return o;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("ddpm sampler with the exact eps returns the Gaussian data") {
  // s = 0.5 reaches past [-1, 1], so clipping is off. sigma^2 = beta-tilde leaves out Var[x0 | x_t]
  // and so loses 1.5% of the variance over the chain; sigma^2 = beta adds 0.3%.
  const Gaussian g{0.3, 0.5};
  for (VarianceType vt : {VarianceType::Beta, VarianceType::BetaTilde}) {
    CAPTURE(to_string(vt));
    GaussianDiffusion d = make_diffusion(1000, Objective::Eps, vt);
    Generator gen(11);
    SampleResult r = d.p_sample_loop(g.model(d.schedule(), Objective::Eps), kBig, gen, no_clip());
    REQUIRE(r.x0.shape() == kBig);
    CHECK(r.x0.dtype() == DType::Float32);
    CHECK(r.progress.empty());
    Moments m = ddpm_moments(d.schedule(), g, vt);
    check_moments(r.x0, m.mean, m.var, kZ, "against this sampler's exact moments");
    check_moments(r.x0, g.mu, g.s * g.s, kZ, "against the data");
  }
}

TEST_CASE("ddpm sampler with clipping returns the Gaussian data") {
  // s = 0.2 around 0.3: predicted x0 leaves [-1, 1] with probability ~2e-4, so clipping barely matters.
  const Gaussian g{0.3, 0.2};
  GaussianDiffusion d = make_diffusion();
  Generator gen(12);
  SampleResult r = d.p_sample_loop(g.model(d.schedule(), Objective::Eps), kBig, gen);
  check_moments(r.x0, g.mu, g.s * g.s, kZ, "ddpm, sigma^2 = beta, clipped");
  CHECK(ops::max(r.x0).item() <= 1.0);
}

TEST_CASE("ddim sampler with the exact eps returns the Gaussian data") {
  const Gaussian g{0.3, 0.5};
  GaussianDiffusion d = make_diffusion();
  const Moments data{g.mu, g.s * g.s};
  // S = T, eta = 0: the discretization costs 0.6% of the variance; checked against the data.
  {
    Generator gen(21);
    SampleResult r = d.ddim_sample_loop(g.model(d.schedule(), Objective::Eps), kBig, 1000, 0.0, gen, no_clip());
    Moments m = ddim_moments(d.schedule(), d.ddim_timesteps(1000), 0.0, g);
    CHECK(std::fabs(m.var / data.var - 1.0) < 0.01);
    check_moments(r.x0, m.mean, m.var, kZ, "ddim S=1000 eta=0 against its exact moments");
    check_moments(r.x0, data.mean, data.var, kZ, "ddim S=1000 eta=0 against the data");
  }
  // Fewer steps: each DDIM step is a first-order (Euler) step of the probability-flow ODE, which
  // shrinks the variance of this data by 5.6% at S = 100 (eta = 0) and 12% at S = 100 (eta = 1), so
  // these runs are checked against the sampler's exact moments, and their means against the data.
  for (double eta : {0.0, 1.0}) {
    CAPTURE(eta);
    Generator gen(22);
    SampleResult r = d.ddim_sample_loop(g.model(d.schedule(), Objective::Eps), kBig, 100, eta, gen, no_clip());
    Moments m = ddim_moments(d.schedule(), d.ddim_timesteps(100), eta, g);
    CHECK(m.var / data.var > (eta == 0.0 ? 0.94 : 0.87));
    CHECK(std::fabs(m.mean - data.mean) < 0.002);
    check_moments(r.x0, m.mean, m.var, kZ, "ddim S=100 against its exact moments");
    std::vector<double> v = r.x0.to_vector<double>();
    double mean = 0.0;
    for (double e : v) mean += e / double(v.size());
    CHECK(std::fabs(mean - data.mean) < kZ * g.s / std::sqrt(double(v.size())));
  }
}

TEST_CASE("ddim with eta 1 on every step is the ddpm sampler with beta tilde") {
  // Same x_T, same generator: sigma_t(eta = 1) = sqrt(beta-tilde_t) and eq. 12's mean is eq. 7's, so both
  // samplers take the same path (the noise of each step is the same draw).
  const Gaussian g{0.3, 0.2};
  const int64_t T = 200;
  GaussianDiffusion d = make_diffusion(T, Objective::Eps, VarianceType::BetaTilde);
  const Shape shape = {8, 1, 4, 4};
  SampleOptions o;
  o.x_T = randn(shape);
  Generator g1(5), g2(5);
  SampleResult a = d.p_sample_loop(g.model(d.schedule(), Objective::Eps), shape, g1, o);
  SampleResult b = d.ddim_sample_loop(g.model(d.schedule(), Objective::Eps), shape, T, 1.0, g2, o);
  check_close(b.x0, a.x0, 2e-5, 1e-4);
}

TEST_CASE("x0 and v objectives sample the same as eps") {
  const Gaussian g{0.3, 0.5};
  const Shape shape = {16, 1, 4, 4};
  SampleOptions o;
  o.x_T = randn(shape, {}, nullptr);
  for (bool clip : {false, true}) {
    CAPTURE(clip);
    o.clip_denoised = clip;
    GaussianDiffusion de = make_diffusion(300, Objective::Eps);
    Generator ge(3), ge2(4);
    SampleResult ref = de.p_sample_loop(g.model(de.schedule(), Objective::Eps), shape, ge, o);
    SampleResult ref_ddim = de.ddim_sample_loop(g.model(de.schedule(), Objective::Eps), shape, 30, 0.5, ge2, o);
    for (Objective obj : {Objective::X0, Objective::V}) {
      CAPTURE(to_string(obj));
      GaussianDiffusion d = make_diffusion(300, obj);
      Generator gen(3), gen2(4);
      check_close(d.p_sample_loop(g.model(d.schedule(), obj), shape, gen, o).x0, ref.x0, 1e-4, 1e-4);
      check_close(d.ddim_sample_loop(g.model(d.schedule(), obj), shape, 30, 0.5, gen2, o).x0, ref_ddim.x0, 1e-4, 1e-4);
    }
  }
}

TEST_CASE("progress snapshots and step callbacks") {
  const Gaussian g{0.3, 0.2};
  GaussianDiffusion d = make_diffusion(100);
  const Shape shape = {2, 1, 3, 3};
  DenoiseModel model = g.model(d.schedule(), Objective::Eps);

  SampleOptions o;
  o.num_progress = 10;
  std::vector<int64_t> calls;
  o.on_step = [&](int64_t done, int64_t total) { calls.push_back(done); CHECK(total == 100); };
  Generator gen(1);
  SampleResult r = d.p_sample_loop(model, shape, gen, o);
  REQUIRE(r.progress.size() == 10);
  CHECK(r.progress_t == std::vector<int64_t>{90, 80, 70, 60, 50, 40, 30, 20, 10, 0});
  for (const Tensor& p : r.progress) CHECK(p.shape() == shape);
  check_close(r.progress.back(), r.x0, 1e-6, 1e-6);  // at t = 0 the sample is the predicted x0
  REQUIRE(calls.size() == 100);
  CHECK(calls.front() == 1);
  CHECK(calls.back() == 100);

  SampleOptions od;
  od.num_progress = 4;
  Generator gen2(1);
  SampleResult rd = d.ddim_sample_loop(model, shape, 20, 0.0, gen2, od);
  std::vector<int64_t> tau = d.ddim_timesteps(20);
  CHECK(rd.progress_t == std::vector<int64_t>{tau[4], tau[9], tau[14], tau[19]});
  CHECK(rd.progress_t.back() == 0);
  check_close(rd.progress.back(), rd.x0, 1e-6, 1e-6);  // the last DDIM step lands on abar = 1: x0 itself

  od.num_progress = 50;  // more than the steps: one per step
  Generator gen3(1);
  CHECK(d.ddim_sample_loop(model, shape, 20, 0.0, gen3, od).progress.size() == 20);
}

TEST_CASE("sampling is deterministic given x_T and the seed") {
  const Gaussian g{0.3, 0.2};
  GaussianDiffusion d = make_diffusion(50);
  const Shape shape = {4, 1, 2, 2};
  DenoiseModel model = g.model(d.schedule(), Objective::Eps);
  SampleOptions o;
  o.x_T = randn(shape);
  auto ddpm_run = [&](uint64_t seed, const SampleOptions& opts) { Generator gen(seed); return d.p_sample_loop(model, shape, gen, opts).x0; };
  auto ddim_run = [&](uint64_t seed, double eta) { Generator gen(seed); return d.ddim_sample_loop(model, shape, 10, eta, gen, o).x0; };
  check_close(ddpm_run(9, o), ddpm_run(9, o), 0.0, 0.0);
  check_close(ddpm_run(9, SampleOptions()), ddpm_run(9, SampleOptions()), 0.0, 0.0);  // x_T drawn from the seed
  CHECK(ops::max(ops::abs(ddpm_run(9, o) - ddpm_run(10, o))).item() > 1e-3);
  check_close(ddim_run(9, 0.7), ddim_run(9, 0.7), 0.0, 0.0);
  check_close(ddim_run(9, 0.0), ddim_run(10, 0.0), 0.0, 0.0);  // eta = 0 draws nothing after x_T
  CHECK(ops::max(ops::abs(ddim_run(9, 0.7) - ddim_run(10, 0.7))).item() > 1e-3);
}

TEST_CASE("p_mean_variance with exact predictions recovers x0 and the posterior") {
  const std::vector<int64_t> ts = {0, 5, 300, 999};
  Tensor t = steps(ts);
  Tensor x0 = ops::clamp(randn({4, 2, 3, 3}, DType::Float64), -0.99, 0.99), eps = randn({4, 2, 3, 3}, DType::Float64);
  for (Objective obj : {Objective::Eps, Objective::X0, Objective::V}) {
    for (VarianceType vt : {VarianceType::Beta, VarianceType::BetaTilde}) {
      CAPTURE(to_string(obj));
      CAPTURE(to_string(vt));
      GaussianDiffusion d = make_diffusion(1000, obj, vt);
      const NoiseSchedule& s = d.schedule();
      Tensor x_t = d.q_sample(x0, t, eps);
      DenoiseModel model = [&](const Tensor&, const Tensor&) {
        return obj == Objective::Eps ? eps : obj == Objective::X0 ? x0 : d.v_from_x0_eps(x0, t, eps);
      };
      for (bool clip : {false, true}) {
        GaussianDiffusion::PMeanVariance p = d.p_mean_variance(model, x_t, t, clip);
        check_close(p.pred_x0, x0, 1e-8, 1e-8);
        check_close(p.pred_eps, eps, 1e-8, 1e-8);
        check_close(p.mean, d.q_posterior_mean_variance(x0, x_t, t).mean, 1e-10, 1e-10);
        std::vector<double> var, logvar;
        for (int64_t k : ts) {
          // beta_t, but beta-tilde_1 at t = 0 (the paper's code's "fixed large": only the decoder sees it)
          const double large = k == 0 ? s.posterior_variance[1] : s.betas[size_t(k)];
          var.push_back(vt == VarianceType::Beta ? large : s.posterior_variance[size_t(k)]);
          logvar.push_back(vt == VarianceType::Beta ? std::log(large) : s.posterior_log_variance_clipped[size_t(k)]);
        }
        check_values(p.variance, var, 1e-15);
        check_values(p.log_variance, logvar, 1e-12);
      }
    }
  }
  // Clipping: a predicted x0 outside [-1, 1] is clamped, and eps is recomputed so that
  // x_t = sqrt(abar) x0 + sqrt(1 - abar) eps still holds.
  GaussianDiffusion d = make_diffusion();
  Tensor t1 = steps({400, 400, 400, 400});
  Tensor big = 3.0 * randn({4, 2, 3, 3}, DType::Float64);
  Tensor x_t = d.q_sample(big, t1, eps);
  GaussianDiffusion::PMeanVariance p = d.p_mean_variance([&](const Tensor&, const Tensor&) { return eps; }, x_t, t1, true);
  check_close(p.pred_x0, ops::clamp(big, -1.0, 1.0), 1e-10, 1e-10);
  check_close(d.q_sample(p.pred_x0, t1, p.pred_eps), x_t, 1e-10, 1e-10);
  check_close(p.mean, d.q_posterior_mean_variance(p.pred_x0, x_t, t1).mean, 1e-12, 1e-12);
}

TEST_CASE("training_losses is zero for the exact target and reaches the parameters") {
  const Shape shape = {6, 2, 3, 3};
  Tensor x0 = randn(shape, DType::Float64);
  for (Objective obj : {Objective::Eps, Objective::X0, Objective::V}) {
    CAPTURE(to_string(obj));
    GaussianDiffusion d = make_diffusion(1000, obj);
    // A model that knows x0 and so reads the noise off x_t, returning the objective's target exactly.
    DenoiseModel oracle = [&](const Tensor& x_t, const Tensor& t) {
      Tensor eps = d.predict_eps_from_x0(x_t, t, x0);
      return obj == Objective::Eps ? eps : obj == Objective::X0 ? x0 : d.v_from_x0_eps(x0, t, eps);
    };
    Generator gen(4);
    CHECK(d.training_losses(oracle, x0, gen).item() < 1e-12);
    Tensor t = steps({0, 1, 2, 500, 998, 999}), noise = randn(shape, DType::Float64);
    CHECK(d.training_losses(oracle, x0, t, noise).item() < 1e-12);
    // The generator form draws t (on the CPU) and then the noise: the same draws give the same loss.
    DenoiseModel scaled = [](const Tensor& x_t, const Tensor&) { return 0.5 * x_t; };
    Generator g1(8), g2(8);
    Tensor t2 = randint(0, 1000, {6}, DType::Int64, &g2);
    Tensor n2 = randn(shape, DType::Float64, &g2);
    CHECK(d.training_losses(scaled, x0, g1).item() == doctest::Approx(d.training_losses(scaled, x0, t2, n2).item()).epsilon(1e-14));
    CHECK(g1.offset() == g2.offset());

    // The gradient reaches a parameter: d/dw mean((w x_t - target)^2) = 2 mean((w x_t - target) x_t).
    Tensor w = set_requires_grad(tensor({0.7}, DType::Float64));
    Tensor loss = d.training_losses([&](const Tensor& x_t, const Tensor&) { return x_t * w; }, x0, t, noise);
    CHECK(requires_grad(loss));
    CHECK(loss.numel() == 1);
    backward(loss);
    REQUIRE(grad(w).defined());
    Tensor x_t = d.q_sample(x0, t, noise), target = d.training_target(x0, t, noise);
    const double want = ops::mean(2.0 * (0.7 * x_t - target) * x_t).item();
    CHECK(grad(w).item() == doctest::Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("sampler and loss inputs are validated") {
  const Gaussian g{0.3, 0.2};
  GaussianDiffusion d = make_diffusion(20);
  DenoiseModel model = g.model(d.schedule(), Objective::Eps);
  Generator gen(0);
  SampleOptions o;
  o.x_T = randn({2, 1, 4, 4});
  check_throws_with_all<std::invalid_argument>([&] { d.p_sample_loop(model, {2, 1, 4, 5}, gen, o); },
                                               {"p_sample_loop", "x_T", "[2, 1, 4, 5]"});
  check_throws_with<std::invalid_argument>([&] { d.p_sample_loop(model, {}, gen); }, "B >= 1");
  check_throws_with_all<std::invalid_argument>([&] { d.ddim_sample_loop(model, {2, 1, 4, 4}, 0, 0.0, gen); },
                                               {"S is 0", "1 <= S <= T = 20"});
  check_throws_with_all<std::invalid_argument>([&] { d.ddim_sample_loop(model, {2, 1, 4, 4}, 21, 0.0, gen); }, {"S is 21"});
  check_throws_with_all<std::invalid_argument>([&] { d.ddim_sample_loop(model, {2, 1, 4, 4}, 10, -0.5, gen); },
                                               {"ddim_sample_loop", "eta", "eta >= 0"});
  SampleOptions neg;
  neg.num_progress = -1;
  check_throws_with<std::invalid_argument>([&] { d.p_sample_loop(model, {2, 1, 4, 4}, gen, neg); }, "num_progress");
  DenoiseModel bad = [](const Tensor& x_t, const Tensor&) { return ops::slice(x_t, 3, 0, 2); };
  check_throws_with_all<std::invalid_argument>([&] { d.p_sample_loop(bad, {2, 1, 4, 4}, gen); },
                                               {"p_sample: the model output", "[2, 1, 4, 2]", "[2, 1, 4, 4]"});
  check_throws_with_all<std::invalid_argument>([&] { d.training_losses(bad, randn({2, 1, 4, 4}), gen); },
                                               {"training_losses", "the model output"});
  check_throws_with_all<std::invalid_argument>([&] { d.p_sample(model, randn({2, 1, 4, 4}), steps({3}), gen, true); },
                                               {"p_sample", "[2]"});
  check_throws_with<std::invalid_argument>([&] { d.training_losses(model, Tensor(), gen); }, "training_losses");
}

}  // TEST_SUITE
