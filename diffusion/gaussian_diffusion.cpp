// The Gaussian diffusion (Ho et al. 2020): forward process, posterior, L_simple and the DDPM and DDIM
// samplers. Coefficients are read from the float64 tables of NoiseSchedule at each sample's t.
#include "diffusion/gaussian_diffusion.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "autograd/autograd.hpp"

namespace ddpm {

// ---- names and configuration -------------------------------------------------------------------

Objective parse_objective(const std::string& name) {
  if (name == "eps") return Objective::Eps;
  if (name == "x0") return Objective::X0;
  if (name == "v") return Objective::V;
  throw std::invalid_argument("unknown objective '" + name + "', expected one of: eps, x0, v");
}

std::string to_string(Objective o) {
  switch (o) {
    case Objective::Eps: return "eps";
    case Objective::X0: return "x0";
    case Objective::V: return "v";
  }
  return "?";
}

VarianceType parse_variance(const std::string& name) {
  if (name == "beta") return VarianceType::Beta;
  if (name == "beta-tilde") return VarianceType::BetaTilde;
  throw std::invalid_argument("unknown variance '" + name + "', expected one of: beta, beta-tilde");
}

std::string to_string(VarianceType v) { return v == VarianceType::Beta ? "beta" : "beta-tilde"; }

void DiffusionConfig::validate() const { make_betas(schedule, T, beta_start, beta_end); }

std::map<std::string, std::string> DiffusionConfig::to_metadata() const {
  auto num = [](double x) { std::ostringstream s; s.precision(17); s << x; return s.str(); };
  return {{"diffusion.schedule", to_string(schedule)},   {"diffusion.T", std::to_string(T)},
          {"diffusion.beta_start", num(beta_start)},     {"diffusion.beta_end", num(beta_end)},
          {"diffusion.objective", to_string(objective)}, {"diffusion.variance", to_string(variance)}};
}

DiffusionConfig DiffusionConfig::from_metadata(const std::map<std::string, std::string>& m) {
  auto get = [&](const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) throw std::invalid_argument("DiffusionConfig: metadata has no key " + key);
    return it->second;
  };
  // Whole-string numbers only: "1e-4x" or "" is an error, not 1e-4 or 0.
  auto number = [&](const std::string& key, bool integer) {
    const std::string s = get(key);
    try {
      size_t used = 0;
      double v = integer ? double(std::stoll(s, &used)) : std::stod(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument("DiffusionConfig: metadata " + key + " = '" + s + "' is not " +
                                (integer ? "an integer" : "a number"));
  };
  auto named = [&](const std::string& key, auto parse) {
    try {
      return parse(get(key));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("DiffusionConfig: metadata " + key + ": " + e.what());
    }
  };
  DiffusionConfig c;
  c.schedule = named("diffusion.schedule", parse_beta_schedule);
  c.T = int64_t(number("diffusion.T", true));
  c.beta_start = number("diffusion.beta_start", false);
  c.beta_end = number("diffusion.beta_end", false);
  c.objective = named("diffusion.objective", parse_objective);
  c.variance = named("diffusion.variance", parse_variance);
  c.validate();
  return c;
}

// ---- coefficient lookup ------------------------------------------------------------------------

namespace {

void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  if (!a.defined() || !b.defined())
    throw std::invalid_argument(std::string(op) + ": " + (a.defined() ? b_name : a_name) + " is undefined");
  if (a.shape() != b.shape())
    throw std::invalid_argument(std::string(op) + ": " + b_name + " is " + describe(b) + ", expected the shape of " +
                                a_name + " " + shape_str(a.shape()));
}

// One value per sample as a [B, 1, ..., 1] tensor of x's rank, dtype and device (broadcasts over x).
Tensor per_sample(const std::vector<double>& values, const Tensor& x) {
  Shape shape(size_t(x.dim()), 1);
  shape[0] = int64_t(values.size());
  return tensor(values, shape, TensorOptions(x.dtype(), x.device()));
}

// The timesteps a step runs at, on the CPU: coefficient lookups then copy nothing back from a GPU.
Tensor steps_tensor(int64_t B, int64_t t) { return full({B}, double(t), DType::Int64); }

}  // namespace

GaussianDiffusion::GaussianDiffusion(const DiffusionConfig& config)
    : config_(config), sched_(make_betas(config.schedule, config.T, config.beta_start, config.beta_end)) {}

std::vector<int64_t> GaussianDiffusion::timesteps_of(const Tensor& t, const Tensor& x, const char* op) const {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(op) + ": " + what); };
  if (!x.defined() || x.dim() < 1) fail("x is undefined or 0-dim, expected [B, ...]");
  if (!t.defined()) fail("t is undefined, expected [B] timestep indices");
  if (t.dim() != 1 || t.size(0) != x.size(0))
    fail("t is " + describe(t) + ", expected [" + std::to_string(x.size(0)) + "] (one timestep per sample of x " +
         shape_str(x.shape()) + ")");
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
    fail("t is " + describe(t) + ", expected integer timestep indices (int64)");
  std::vector<int64_t> ts = t.to_vector<int64_t>();
  for (int64_t v : ts)
    if (v < 0 || v >= T()) fail("t has " + std::to_string(v) + ", expected timesteps in [0, " + std::to_string(T()) + ")");
  return ts;
}

Tensor GaussianDiffusion::coef(const std::vector<double>& table, const std::vector<int64_t>& ts, const Tensor& x) const {
  std::vector<double> v(ts.size());
  for (size_t b = 0; b < ts.size(); ++b) v[b] = table[size_t(ts[b])];
  return per_sample(v, x);  // [B, 1, 1, 1]
}

// ---- forward process and its posterior ---------------------------------------------------------

Tensor GaussianDiffusion::q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
  check_same_shape("q_sample", "x0", x0, "noise", noise);
  auto ts = timesteps_of(t, x0, "q_sample");
  // eq. 4: q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I)
  return coef(sched_.sqrt_alphas_cumprod, ts, x0) * x0 + coef(sched_.sqrt_one_minus_alphas_cumprod, ts, x0) * noise;
}

GaussianDiffusion::Posterior GaussianDiffusion::q_posterior_mean_variance(const Tensor& x0, const Tensor& x_t,
                                                                          const Tensor& t) const {
  check_same_shape("q_posterior_mean_variance", "x_t", x_t, "x0", x0);
  auto ts = timesteps_of(t, x_t, "q_posterior_mean_variance");
  // eq. 7: mu-tilde_t = coef1 x0 + coef2 x_t, variance beta-tilde_t
  Tensor mean = coef(sched_.posterior_mean_coef1, ts, x_t) * x0 + coef(sched_.posterior_mean_coef2, ts, x_t) * x_t;
  return {mean, coef(sched_.posterior_variance, ts, x_t), coef(sched_.posterior_log_variance_clipped, ts, x_t)};
}

Tensor GaussianDiffusion::predict_x0_from_eps(const Tensor& x_t, const Tensor& t, const Tensor& eps) const {
  check_same_shape("predict_x0_from_eps", "x_t", x_t, "eps", eps);
  auto ts = timesteps_of(t, x_t, "predict_x0_from_eps");
  // eq. 4 solved for x0: x0 = sqrt(1/abar) x_t - sqrt(1/abar - 1) eps
  return coef(sched_.sqrt_recip_alphas_cumprod, ts, x_t) * x_t - coef(sched_.sqrt_recipm1_alphas_cumprod, ts, x_t) * eps;
}

Tensor GaussianDiffusion::predict_eps_from_x0(const Tensor& x_t, const Tensor& t, const Tensor& x0) const {
  check_same_shape("predict_eps_from_x0", "x_t", x_t, "x0", x0);
  auto ts = timesteps_of(t, x_t, "predict_eps_from_x0");
  // eq. 4 solved for eps: eps = (sqrt(1/abar) x_t - x0) / sqrt(1/abar - 1)
  return (coef(sched_.sqrt_recip_alphas_cumprod, ts, x_t) * x_t - x0) / coef(sched_.sqrt_recipm1_alphas_cumprod, ts, x_t);
}

Tensor GaussianDiffusion::v_from_x0_eps(const Tensor& x0, const Tensor& t, const Tensor& eps) const {
  check_same_shape("v_from_x0_eps", "x0", x0, "eps", eps);
  auto ts = timesteps_of(t, x0, "v_from_x0_eps");
  // v = sqrt(abar) eps - sqrt(1 - abar) x0  (Salimans & Ho 2022)
  return coef(sched_.sqrt_alphas_cumprod, ts, x0) * eps - coef(sched_.sqrt_one_minus_alphas_cumprod, ts, x0) * x0;
}

Tensor GaussianDiffusion::predict_x0_from_v(const Tensor& x_t, const Tensor& t, const Tensor& v) const {
  check_same_shape("predict_x0_from_v", "x_t", x_t, "v", v);
  auto ts = timesteps_of(t, x_t, "predict_x0_from_v");
  // x0 = sqrt(abar) x_t - sqrt(1 - abar) v  (sqrt(abar)^2 + sqrt(1-abar)^2 = 1 makes this exact)
  return coef(sched_.sqrt_alphas_cumprod, ts, x_t) * x_t - coef(sched_.sqrt_one_minus_alphas_cumprod, ts, x_t) * v;
}

Tensor GaussianDiffusion::predict_eps_from_v(const Tensor& x_t, const Tensor& t, const Tensor& v) const {
  check_same_shape("predict_eps_from_v", "x_t", x_t, "v", v);
  auto ts = timesteps_of(t, x_t, "predict_eps_from_v");
  // eps = sqrt(1 - abar) x_t + sqrt(abar) v
  return coef(sched_.sqrt_one_minus_alphas_cumprod, ts, x_t) * x_t + coef(sched_.sqrt_alphas_cumprod, ts, x_t) * v;
}

// ---- the reverse process -----------------------------------------------------------------------

GaussianDiffusion::PMeanVariance GaussianDiffusion::p_mean_variance(const DenoiseModel& model, const Tensor& x_t,
                                                                    const Tensor& t, bool clip_denoised) const {
  auto ts = timesteps_of(t, x_t, "p_mean_variance");
  Tensor out = model(x_t, t.to(DType::Int64).to(x_t.device()));  // [B, C, H, W]
  check_same_shape("p_mean_variance", "x_t", x_t, "the model output", out);

  PMeanVariance r;
  switch (config_.objective) {
    case Objective::Eps: r.pred_x0 = predict_x0_from_eps(x_t, t, out); break;
    case Objective::X0: r.pred_x0 = out; break;
    case Objective::V: r.pred_x0 = predict_x0_from_v(x_t, t, out); break;
  }
  if (clip_denoised) r.pred_x0 = clamp(r.pred_x0, -1.0, 1.0);
  // eps consistent with the (clipped) x0, which DDIM steps with.
  r.pred_eps = config_.objective == Objective::Eps && !clip_denoised ? out : predict_eps_from_x0(x_t, t, r.pred_x0);

  // p_theta(x_{t-1} | x_t) has the posterior's mean at x0 = pred_x0 (eq. 7) and sigma_t^2 (Sec. 3.2).
  r.mean = q_posterior_mean_variance(r.pred_x0, x_t, t).mean;
  if (config_.variance == VarianceType::Beta) {
    r.variance = coef(sched_.betas, ts, x_t);
    r.log_variance = log(r.variance);
  } else {
    r.variance = coef(sched_.posterior_variance, ts, x_t);
    r.log_variance = coef(sched_.posterior_log_variance_clipped, ts, x_t);
  }
  return r;
}

Tensor GaussianDiffusion::p_sample(const DenoiseModel& model, const Tensor& x_t, const Tensor& t, Generator& gen,
                                   bool clip_denoised, Tensor* pred_x0) const {
  NoGradGuard no_grad;
  auto ts = timesteps_of(t, x_t, "p_sample");
  PMeanVariance p = p_mean_variance(model, x_t, t, clip_denoised);
  // Algorithm 2, line 4: x_{t-1} = mu_theta(x_t, t) + sigma_t z, with z = 0 at the last step (t = 0).
  std::vector<double> nonzero(ts.size());
  for (size_t b = 0; b < ts.size(); ++b) nonzero[b] = ts[b] > 0 ? 1.0 : 0.0;
  Tensor z = randn(x_t.shape(), TensorOptions(x_t.dtype(), x_t.device()), &gen);
  if (pred_x0) *pred_x0 = p.pred_x0;
  return p.mean + (per_sample(nonzero, x_t) * exp(0.5 * p.log_variance)) * z;
}

namespace {

// The step indices (0-based, in sampling order) after which a progress snapshot is taken: n of them
// evenly spaced over `steps`, the last one at the final step.
std::vector<bool> snapshot_steps(int64_t steps, int64_t n) {
  std::vector<bool> take(size_t(steps), false);
  n = std::min(n, steps);
  for (int64_t j = 1; j <= n; ++j) take[size_t(j * steps / n - 1)] = true;
  return take;
}

}  // namespace

Tensor GaussianDiffusion::start_noise(const Shape& shape, Generator& gen, const SampleOptions& opts, const char* op) const {
  if (shape.empty() || shape[0] < 1)
    throw std::invalid_argument(std::string(op) + ": shape " + shape_str(shape) + ", expected [B, C, H, W] with B >= 1");
  if (opts.num_progress < 0)
    throw std::invalid_argument(std::string(op) + ": num_progress is " + std::to_string(opts.num_progress) +
                                ", expected >= 0");
  if (!opts.x_T.defined()) return randn(shape, TensorOptions(DType::Float32, opts.device), &gen);
  if (opts.x_T.shape() != shape)
    throw std::invalid_argument(std::string(op) + ": x_T is " + describe(opts.x_T) + ", expected shape " + shape_str(shape));
  if (opts.x_T.dtype() != DType::Float32 && opts.x_T.dtype() != DType::Float64)
    throw std::invalid_argument(std::string(op) + ": x_T is " + describe(opts.x_T) + ", expected float32 or float64");
  return opts.x_T;
}

SampleResult GaussianDiffusion::p_sample_loop(const DenoiseModel& model, const Shape& shape, Generator& gen,
                                              const SampleOptions& opts) const {
  NoGradGuard no_grad;
  Tensor x = start_noise(shape, gen, opts, "p_sample_loop");  // x_T ~ N(0, I): [B, C, H, W]
  const std::vector<bool> snap = snapshot_steps(T(), opts.num_progress);
  SampleResult r;
  for (int64_t k = 0; k < T(); ++k) {
    const int64_t t = T() - 1 - k;  // Algorithm 2: for t = T, ..., 1
    Tensor pred_x0;
    x = p_sample(model, x, steps_tensor(shape[0], t), gen, opts.clip_denoised, &pred_x0);
    if (snap[size_t(k)]) {
      r.progress.push_back(pred_x0);
      r.progress_t.push_back(t);
    }
    if (opts.on_step) opts.on_step(k + 1, T());
  }
  r.x0 = x;
  return r;
}

std::vector<int64_t> GaussianDiffusion::ddim_timesteps(int64_t S) const {
  if (S < 1 || S > T())
    throw std::invalid_argument("ddim_timesteps: S is " + std::to_string(S) + ", expected 1 <= S <= T = " +
                                std::to_string(T()));
  // tau_i = round(i (T-1)/(S-1)) as numpy's linspace (i * step, last exactly T-1) and round (half to even).
  std::vector<int64_t> tau(size_t(S), 0);
  const double step = S > 1 ? double(T() - 1) / double(S - 1) : 0.0;
  for (int64_t i = 0; i < S; ++i) tau[size_t(S - 1 - i)] = int64_t(std::nearbyint(double(i) * step));
  tau[0] = S > 1 ? T() - 1 : 0;
  return tau;
}

SampleResult GaussianDiffusion::ddim_sample_loop(const DenoiseModel& model, const Shape& shape, int64_t S, double eta,
                                                 Generator& gen, const SampleOptions& opts) const {
  NoGradGuard no_grad;
  if (!(eta >= 0.0) || !std::isfinite(eta))
    throw std::invalid_argument("ddim_sample_loop: eta is " + std::to_string(eta) + ", expected eta >= 0");
  const std::vector<int64_t> tau = ddim_timesteps(S);
  Tensor x = start_noise(shape, gen, opts, "ddim_sample_loop");  // x_T: [B, C, H, W]
  const std::vector<bool> snap = snapshot_steps(S, opts.num_progress);
  const auto& abar = sched_.alphas_cumprod;
  SampleResult r;
  for (int64_t i = 0; i < S; ++i) {
    const int64_t t = tau[size_t(i)];
    const double a = abar[size_t(t)];
    const double a_prev = i + 1 < S ? abar[size_t(tau[size_t(i + 1)])] : 1.0;  // the last step lands on x0
    PMeanVariance p = p_mean_variance(model, x, steps_tensor(shape[0], t), opts.clip_denoised);
    // Song et al. 2021 eq. 16: sigma = eta sqrt((1 - abar_prev) / (1 - abar)) sqrt(1 - abar / abar_prev)
    const double sigma = eta * std::sqrt((1.0 - a_prev) / (1.0 - a)) * std::sqrt(1.0 - a / a_prev);
    // eq. 12: x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z
    const double dir = std::sqrt(std::max(0.0, 1.0 - a_prev - sigma * sigma));
    x = std::sqrt(a_prev) * p.pred_x0 + dir * p.pred_eps;
    if (sigma > 0.0) x = x + sigma * randn(x.shape(), TensorOptions(x.dtype(), x.device()), &gen);
    if (snap[size_t(i)]) {
      r.progress.push_back(p.pred_x0);
      r.progress_t.push_back(t);
    }
    if (opts.on_step) opts.on_step(i + 1, S);
  }
  r.x0 = x;
  return r;
}

// ---- training ------------------------------------------------------------------------------------

Tensor GaussianDiffusion::training_target(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
  switch (config_.objective) {
    case Objective::Eps: check_same_shape("training_target", "x0", x0, "noise", noise); return noise;
    case Objective::X0: check_same_shape("training_target", "x0", x0, "noise", noise); return x0;
    case Objective::V: return v_from_x0_eps(x0, t, noise);
  }
  return Tensor();
}

Tensor GaussianDiffusion::training_losses(const DenoiseModel& model, const Tensor& x0, Generator& gen) const {
  if (!x0.defined() || x0.dim() < 1 || x0.size(0) < 1)
    throw std::invalid_argument("training_losses: x0 must be [B, C, H, W] with B >= 1");
  // Algorithm 1, lines 3-4. t is drawn on the CPU (Philox gives the same numbers on every device), so
  // looking up its coefficients reads nothing back from a GPU.
  Tensor t = randint(0, T(), {x0.size(0)}, DType::Int64, &gen);                  // [B]
  Tensor noise = randn(x0.shape(), TensorOptions(x0.dtype(), x0.device()), &gen);  // [B, C, H, W]
  return training_losses(model, x0, t, noise);
}

Tensor GaussianDiffusion::training_losses(const DenoiseModel& model, const Tensor& x0, const Tensor& t,
                                          const Tensor& noise) const {
  Tensor x_t, target;
  {
    NoGradGuard constants;  // the data, the noise and the target are constants; only the model learns
    x_t = q_sample(x0, t, noise);
    target = detach(training_target(x0, t, noise));
  }
  Tensor out = model(x_t, t.to(DType::Int64).to(x0.device()));
  check_same_shape("training_losses", "x0", x0, "the model output", out);
  // eq. 14: L_simple = E || target - f_theta(x_t, t) ||^2, averaged over every element
  return mse_loss(out, target);
}

}  // namespace ddpm
