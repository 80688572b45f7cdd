// The Gaussian diffusion (Ho et al. 2020): forward process, posterior, the losses and the bound in
// bits per dimension, respacing, and the DDPM and DDIM samplers. Coefficients are gathered at each
// sample's t from a copy of NoiseSchedule's float64 tables kept on the device (index_select, as
// improved-diffusion's _extract_into_tensor): nothing per step crosses between host and device.
#include "diffusion/gaussian_diffusion.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>

#include "autograd/autograd.hpp"
#include "diffusion/losses.hpp"

namespace ddpm {

// ---- coefficient lookup ------------------------------------------------------------------------

namespace {

void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  if (!a.defined() || !b.defined())
    throw std::invalid_argument(std::string(op) + ": " + (a.defined() ? b_name : a_name) + " is undefined");
  if (a.shape() != b.shape())
    throw std::invalid_argument(std::string(op) + ": " + b_name + " is " + describe(b) + ", expected the shape of " +
                                a_name + " " + shape_str(a.shape()));
}

// [B, 1, ..., 1] of x's rank: one value per sample, broadcasting over x.
Shape per_sample_shape(int64_t B, const Tensor& x) {
  Shape shape(size_t(x.dim()), 1);
  shape[0] = B;
  return shape;
}

// The first timestep of the 1-D CPU tensor t outside [0, T), read in place (no copy), or -1 if none.
template <typename I>
int64_t first_out_of_range(const Tensor& t, int64_t T, int64_t* value) {
  const I* p = t.data<I>();
  const int64_t stride = t.stride(0);
  for (int64_t i = 0; i < t.size(0); ++i) {
    const int64_t v = int64_t(p[i * stride]);
    if (v < 0 || v >= T) {
      *value = v;
      return i;
    }
  }
  return -1;
}

}  // namespace

// The tables on each device and dtype they were asked for: (device, dtype, [kNumTables, T]).
struct GaussianDiffusion::TableCache {
  std::mutex mutex;
  struct Entry { Device device; DType dtype; Tensor tables; };
  std::vector<Entry> entries;
};

namespace {

std::vector<int64_t> identity_map(int64_t T) {
  std::vector<int64_t> map(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) map[size_t(t)] = t;
  return map;
}

// The mean over every dim but the first: [B, ...] -> [B] (improved-diffusion's mean_flat).
Tensor mean_flat(const Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  return mean(x, dims);
}

}  // namespace

GaussianDiffusion::GaussianDiffusion(const DiffusionConfig& config)
    : config_(config),
      sched_(make_betas(config.schedule, config.T, config.beta_start, config.beta_end)),
      timestep_map_(identity_map(config.T)),
      cache_(std::make_shared<TableCache>()) {
  config_.validate();
}

GaussianDiffusion::GaussianDiffusion(const DiffusionConfig& config, const std::vector<double>& betas,
                                     std::vector<int64_t> timestep_map)
    : config_(config), sched_(betas), timestep_map_(std::move(timestep_map)), respaced_(true),
      cache_(std::make_shared<TableCache>()) {}

GaussianDiffusion GaussianDiffusion::respaced(const std::vector<int64_t>& use_timesteps) const {
  if (use_timesteps.empty()) throw std::invalid_argument("respaced: no timesteps to keep");
  for (size_t i = 0; i < use_timesteps.size(); ++i) {
    const int64_t t = use_timesteps[i];
    if (t < 0 || t >= T() || (i > 0 && t <= use_timesteps[i - 1]))
      throw std::invalid_argument("respaced: timestep " + std::to_string(t) + " at position " + std::to_string(i) +
                                  ", expected strictly increasing timesteps in [0, " + std::to_string(T()) + ")");
  }
  // improved-diffusion's SpacedDiffusion: beta'_i = 1 - abar_{tau_i} / abar_{tau_{i-1}} (abar before the
  // first kept step is 1), so that the kept steps' abar, and with them q(x_tau | x0), stay as they were.
  std::vector<double> betas;
  std::vector<int64_t> map;
  double last_abar = 1.0;
  for (int64_t t : use_timesteps) {
    const double abar = sched_.alphas_cumprod[size_t(t)];
    betas.push_back(1.0 - abar / last_abar);
    last_abar = abar;
    map.push_back(timestep_map_[size_t(t)]);  // respacing a respaced chain maps to the very first one
  }
  return GaussianDiffusion(config_, betas, map);
}

GaussianDiffusion GaussianDiffusion::respaced(int64_t S) const {
  std::vector<int64_t> keep = ddim_timesteps(S);  // descending
  std::reverse(keep.begin(), keep.end());
  return respaced(keep);
}

GaussianDiffusion::Steps GaussianDiffusion::steps_of(const Tensor& t, const Tensor& x, const char* op) const {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(op) + ": " + what); };
  if (!x.defined() || x.dim() < 1) fail("x is undefined or 0-dim, expected [B, ...]");
  if (!t.defined()) fail("t is undefined, expected [B] timestep indices");
  if (t.dim() != 1 || t.size(0) != x.size(0))
    fail("t is " + describe(t) + ", expected [" + std::to_string(x.size(0)) + "] (one timestep per sample of x " +
         shape_str(x.shape()) + ")");
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
    fail("t is " + describe(t) + ", expected integer timestep indices (int64)");
  if (t.device().is_cpu()) {  // host memory: the values are checked where they lie, at no cost
    int64_t v = 0;
    const int64_t bad = t.dtype() == DType::Int64 ? first_out_of_range<int64_t>(t, T(), &v)
                                                  : first_out_of_range<int32_t>(t, T(), &v);
    if (bad >= 0) fail("t has " + std::to_string(v) + ", expected timesteps in [0, " + std::to_string(T()) + ")");
  }
  // On a GPU index_select reports an index out of range itself, at the next synchronization.
  Tensor idx = t.to(DType::Int64);                   // a kernel when t is int32, else t itself
  if (idx.device() != x.device()) idx = idx.to(x.device());  // the caller's t lies elsewhere: one copy
  return {idx};
}

Tensor GaussianDiffusion::tables(Device device, DType dtype) const {
  std::lock_guard<std::mutex> lock(cache_->mutex);
  auto find = [&](DType d) -> const Tensor* {
    for (const auto& e : cache_->entries)
      if (e.device == device && e.dtype == d) return &e.tables;
    return nullptr;
  };
  if (const Tensor* hit = find(dtype)) return *hit;
  // The float64 tables on the device: one upload per device, what every other dtype converts from there.
  Tensor f64;
  if (const Tensor* hit = find(DType::Float64)) {
    f64 = *hit;
  } else {
    std::vector<double> log_betas;  // the upper end of the learned range (eq. 15 of Nichol & Dhariwal)
    for (double b : sched_.betas) log_betas.push_back(std::log(b));
    // sigma^2 = beta_t, but beta-tilde_1 at t = 0 (the paper's code's "fixed large"; with T = 1, beta_0)
    std::vector<double> fixed_large = sched_.betas, log_fixed_large;
    if (T() > 1) fixed_large[0] = sched_.posterior_variance[1];
    for (double v : fixed_large) log_fixed_large.push_back(std::log(v));
    std::vector<double> sqrt_alphas, sqrt_betas;  // one forward step (eq. 2)
    for (double b : sched_.betas) sqrt_alphas.push_back(std::sqrt(1.0 - b)), sqrt_betas.push_back(std::sqrt(b));
    const std::vector<const std::vector<double>*> rows = {
        &sqrt_alphas,                           // kSqrtAlphas
        &sqrt_betas,                            // kSqrtBetas
        &fixed_large,                           // kFixedLargeVariance
        &log_fixed_large,                       // kFixedLargeLogVariance
        &log_betas,                             // kLogBetas
        &sched_.sqrt_alphas_cumprod,            // kSqrtAlphasCumprod
        &sched_.sqrt_one_minus_alphas_cumprod,  // kSqrtOneMinusAlphasCumprod
        &sched_.sqrt_recip_alphas_cumprod,      // kSqrtRecipAlphasCumprod
        &sched_.sqrt_recipm1_alphas_cumprod,    // kSqrtRecipm1AlphasCumprod
        &sched_.posterior_variance,             // kPosteriorVariance
        &sched_.posterior_log_variance_clipped, // kPosteriorLogVarianceClipped
        &sched_.posterior_mean_coef1,           // kPosteriorMeanCoef1
        &sched_.posterior_mean_coef2,           // kPosteriorMeanCoef2
    };
    static_assert(kNumTables == 13, "one row per Table");
    std::vector<double> all;
    all.reserve(size_t(kNumTables * T()));
    for (const auto* row : rows) all.insert(all.end(), row->begin(), row->end());
    f64 = Tensor::from_vector(all, {int64_t(kNumTables), T()}, device);
    cache_->entries.push_back({device, DType::Float64, f64});
  }
  if (dtype == DType::Float64) return f64;
  // Each value rounded from float64 once, as building it from host doubles in this dtype would.
  Tensor converted = f64.to(dtype);
  cache_->entries.push_back({device, dtype, converted});
  return converted;
}

Tensor GaussianDiffusion::model_timesteps(const Steps& s) const {
  if (!respaced_) return s.t;
  Tensor map;
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    for (const auto& e : cache_->entries)
      if (e.device == s.t.device() && e.dtype == DType::Int64) map = e.tables;
    if (!map.defined()) {  // the map sits in the cache as the one int64 entry of its device
      map = Tensor::from_vector(timestep_map_, {T()}, s.t.device());
      cache_->entries.push_back({s.t.device(), DType::Int64, map});
    }
  }
  return ops::index_select(map, 0, s.t);
}

Tensor GaussianDiffusion::coef(Table table, const Steps& s, const Tensor& x) const {
  // improved-diffusion's _extract_into_tensor: row `table` at each sample's t, [B] -> [B, 1, 1, 1]
  Tensor row = ops::select(tables(x.device(), x.dtype()), 0, int64_t(table));  // [T]
  return ops::reshape(ops::index_select(row, 0, s.t), per_sample_shape(s.t.size(0), x));
}

// ---- forward process and its posterior ---------------------------------------------------------

Tensor GaussianDiffusion::q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
  check_same_shape("q_sample", "x0", x0, "noise", noise);
  return q_sample_at(x0, steps_of(t, x0, "q_sample"), noise);
}

Tensor GaussianDiffusion::q_sample_at(const Tensor& x0, const Steps& s, const Tensor& noise) const {
  // eq. 4: q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I)
  // BEGIN SOLUTION q_sample
  return coef(kSqrtAlphasCumprod, s, x0) * x0 + coef(kSqrtOneMinusAlphasCumprod, s, x0) * noise;
  // END SOLUTION
}

Tensor GaussianDiffusion::q_step(const Tensor& x_prev, const Tensor& t, const Tensor& noise) const {
  check_same_shape("q_step", "x_prev", x_prev, "noise", noise);
  const Steps s = steps_of(t, x_prev, "q_step");
  // eq. 2: q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
  // BEGIN SOLUTION q_step
  return coef(kSqrtAlphas, s, x_prev) * x_prev + coef(kSqrtBetas, s, x_prev) * noise;
  // END SOLUTION
}

GaussianDiffusion::Posterior GaussianDiffusion::q_posterior_mean_variance(const Tensor& x0, const Tensor& x_t,
                                                                          const Tensor& t) const {
  check_same_shape("q_posterior_mean_variance", "x_t", x_t, "x0", x0);
  return q_posterior_at(x0, x_t, steps_of(t, x_t, "q_posterior_mean_variance"));
}

GaussianDiffusion::Posterior GaussianDiffusion::q_posterior_at(const Tensor& x0, const Tensor& x_t,
                                                               const Steps& s) const {
  // eq. 7: mu-tilde_t = coef1 x0 + coef2 x_t, variance beta-tilde_t
  // BEGIN SOLUTION q_posterior
  Tensor mean = coef(kPosteriorMeanCoef1, s, x_t) * x0 + coef(kPosteriorMeanCoef2, s, x_t) * x_t;
  return {mean, coef(kPosteriorVariance, s, x_t), coef(kPosteriorLogVarianceClipped, s, x_t)};
  // END SOLUTION
}

Tensor GaussianDiffusion::predict_x0_from_eps(const Tensor& x_t, const Tensor& t, const Tensor& eps) const {
  check_same_shape("predict_x0_from_eps", "x_t", x_t, "eps", eps);
  return predict_x0_from_eps_at(x_t, steps_of(t, x_t, "predict_x0_from_eps"), eps);
}

Tensor GaussianDiffusion::predict_x0_from_eps_at(const Tensor& x_t, const Steps& s, const Tensor& eps) const {
  // eq. 4 solved for x0: x0 = sqrt(1/abar) x_t - sqrt(1/abar - 1) eps
  return coef(kSqrtRecipAlphasCumprod, s, x_t) * x_t - coef(kSqrtRecipm1AlphasCumprod, s, x_t) * eps;
}

Tensor GaussianDiffusion::predict_eps_from_x0(const Tensor& x_t, const Tensor& t, const Tensor& x0) const {
  check_same_shape("predict_eps_from_x0", "x_t", x_t, "x0", x0);
  return predict_eps_from_x0_at(x_t, steps_of(t, x_t, "predict_eps_from_x0"), x0);
}

Tensor GaussianDiffusion::predict_eps_from_x0_at(const Tensor& x_t, const Steps& s, const Tensor& x0) const {
  // eq. 4 solved for eps: eps = (sqrt(1/abar) x_t - x0) / sqrt(1/abar - 1)
  return (coef(kSqrtRecipAlphasCumprod, s, x_t) * x_t - x0) / coef(kSqrtRecipm1AlphasCumprod, s, x_t);
}

Tensor GaussianDiffusion::v_from_x0_eps(const Tensor& x0, const Tensor& t, const Tensor& eps) const {
  check_same_shape("v_from_x0_eps", "x0", x0, "eps", eps);
  return v_from_x0_eps_at(x0, steps_of(t, x0, "v_from_x0_eps"), eps);
}

Tensor GaussianDiffusion::v_from_x0_eps_at(const Tensor& x0, const Steps& s, const Tensor& eps) const {
  // v = sqrt(abar) eps - sqrt(1 - abar) x0  (Salimans & Ho 2022)
  return coef(kSqrtAlphasCumprod, s, x0) * eps - coef(kSqrtOneMinusAlphasCumprod, s, x0) * x0;
}

Tensor GaussianDiffusion::predict_x0_from_v(const Tensor& x_t, const Tensor& t, const Tensor& v) const {
  check_same_shape("predict_x0_from_v", "x_t", x_t, "v", v);
  return predict_x0_from_v_at(x_t, steps_of(t, x_t, "predict_x0_from_v"), v);
}

Tensor GaussianDiffusion::predict_x0_from_v_at(const Tensor& x_t, const Steps& s, const Tensor& v) const {
  // x0 = sqrt(abar) x_t - sqrt(1 - abar) v  (sqrt(abar)^2 + sqrt(1-abar)^2 = 1 makes this exact)
  return coef(kSqrtAlphasCumprod, s, x_t) * x_t - coef(kSqrtOneMinusAlphasCumprod, s, x_t) * v;
}

Tensor GaussianDiffusion::predict_eps_from_v(const Tensor& x_t, const Tensor& t, const Tensor& v) const {
  check_same_shape("predict_eps_from_v", "x_t", x_t, "v", v);
  return predict_eps_from_v_at(x_t, steps_of(t, x_t, "predict_eps_from_v"), v);
}

Tensor GaussianDiffusion::predict_eps_from_v_at(const Tensor& x_t, const Steps& s, const Tensor& v) const {
  // eps = sqrt(1 - abar) x_t + sqrt(abar) v
  return coef(kSqrtOneMinusAlphasCumprod, s, x_t) * x_t + coef(kSqrtAlphasCumprod, s, x_t) * v;
}

// ---- the reverse process -----------------------------------------------------------------------

GaussianDiffusion::PMeanVariance GaussianDiffusion::p_mean_variance(const DenoiseModel& model, const Tensor& x_t,
                                                                    const Tensor& t, bool clip_denoised) const {
  const Steps s = steps_of(t, x_t, "p_mean_variance");
  return p_mean_variance_at(model(x_t, model_timesteps(s)), x_t, s, clip_denoised, "p_mean_variance");
}

GaussianDiffusion::PMeanVariance GaussianDiffusion::p_mean_variance_of(const Tensor& model_output, const Tensor& x_t,
                                                                       const Tensor& t, bool clip_denoised) const {
  return p_mean_variance_at(model_output, x_t, steps_of(t, x_t, "p_mean_variance_of"), clip_denoised,
                            "p_mean_variance_of");
}

GaussianDiffusion::PMeanVariance GaussianDiffusion::p_mean_variance_at(const Tensor& model_output, const Tensor& x_t,
                                                                       const Steps& s, bool clip_denoised,
                                                                       const char* op) const {
  Tensor out = model_output, v;  // out: [B, C, H, W]; v: [B, C, H, W] of a learned-range model
  if (config_.learns_variance()) {
    if (!out.defined() || out.dim() != x_t.dim() || out.size(1) != 2 * x_t.size(1))
      throw std::invalid_argument(std::string(op) + ": the model output is " +
                                  (out.defined() ? describe(out) : std::string("undefined")) + ", expected twice x_t's " +
                                  std::to_string(x_t.size(1)) + " channels (the prediction, then v) for learned-range "
                                  "variances: build the U-Net with UNetConfig::out_channels = " +
                                  std::to_string(2 * x_t.size(1)));
    std::vector<Tensor> halves = chunk(out, 2, 1);
    out = halves[0];
    v = halves[1];
  }
  check_same_shape(op, "x_t", x_t, "the model output", out);

  PMeanVariance r;
  switch (config_.objective) {
    case Objective::Eps: r.pred_x0 = predict_x0_from_eps_at(x_t, s, out); break;
    case Objective::X0: r.pred_x0 = out; break;
    case Objective::V: r.pred_x0 = predict_x0_from_v_at(x_t, s, out); break;
  }
  if (clip_denoised) r.pred_x0 = clamp(r.pred_x0, -1.0, 1.0);
  // eps consistent with the (clipped) x0, which DDIM steps with.
  r.pred_eps = config_.objective == Objective::Eps && !clip_denoised ? out : predict_eps_from_x0_at(x_t, s, r.pred_x0);

  // p_theta(x_{t-1} | x_t) has the posterior's mean at x0 = pred_x0 (eq. 7) and sigma_t^2 (Sec. 3.2).
  r.mean = q_posterior_at(r.pred_x0, x_t, s).mean;
  switch (config_.variance) {
    case VarianceType::Beta:
      r.log_variance = coef(kFixedLargeLogVariance, s, x_t);
      r.variance = coef(kFixedLargeVariance, s, x_t);
      break;
    case VarianceType::BetaTilde:
      r.log_variance = coef(kPosteriorLogVarianceClipped, s, x_t);
      r.variance = coef(kPosteriorVariance, s, x_t);
      break;
    case VarianceType::LearnedRange: {
      // Nichol & Dhariwal 2021, eq. 15: log sigma^2 = frac log beta_t + (1 - frac) log beta-tilde_t,
      // frac = (v + 1) / 2 (the network's v is meant to lie in [-1, 1]; nothing clamps it, as theirs)
      Tensor frac = (v + 1.0) * 0.5;
      r.log_variance = frac * coef(kLogBetas, s, x_t) + (1.0 - frac) * coef(kPosteriorLogVarianceClipped, s, x_t);
      r.variance = exp(r.log_variance);
      break;
    }
  }
  return r;
}

Tensor GaussianDiffusion::p_sample(const DenoiseModel& model, const Tensor& x_t, const Tensor& t, Generator& gen,
                                   bool clip_denoised, Tensor* pred_x0, const SampleOptions& opts) const {
  NoGradGuard no_grad;
  const Steps s = steps_of(t, x_t, "p_sample");
  const Tensor model_t = model_timesteps(s);
  PMeanVariance p = p_mean_variance_at(model(x_t, model_t), x_t, s, clip_denoised, "p_sample");
  // Classifier guidance (Dhariwal & Nichol 2021, Algorithm 1): mu + s Sigma grad log p(y | x_t)
  if (opts.cond_fn) p.mean = p.mean + p.variance * opts.cond_fn(x_t, model_t);
  // Algorithm 2, line 4: x_{t-1} = mu_theta(x_t, t) + sigma_t z, with z = 0 at the last step (t = 0):
  // the mask 1[t > 0] is made from t on the device, [B, 1, 1, 1].
  // BEGIN SOLUTION p_sample
  Tensor nonzero = ops::reshape(ops::gt(s.t, 0.0).to(x_t.dtype()), per_sample_shape(s.t.size(0), x_t));
  Shape noise_shape = x_t.shape();
  if (opts.shared_noise) noise_shape[0] = 1;  // one draw, broadcast over the rows
  Tensor z = randn(noise_shape, TensorOptions(x_t.dtype(), x_t.device()), &gen);
  if (pred_x0) *pred_x0 = p.pred_x0;
  return p.mean + (nonzero * exp(0.5 * p.log_variance)) * z;
  // END SOLUTION
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

int64_t GaussianDiffusion::first_step(const SampleOptions& opts, const char* op) const {
  if (opts.start_step < 0) return T() - 1;
  if (opts.start_step >= T())
    throw std::invalid_argument(std::string(op) + ": start_step is " + std::to_string(opts.start_step) +
                                ", expected 0 <= start_step < T = " + std::to_string(T()) + " (or -1: T-1)");
  return opts.start_step;
}

SampleResult GaussianDiffusion::p_sample_loop(const DenoiseModel& model, const Shape& shape, Generator& gen,
                                              const SampleOptions& opts) const {
  NoGradGuard no_grad;
  const int64_t first = first_step(opts, "p_sample_loop"), steps = first + 1;
  Tensor x = start_noise(shape, gen, opts, "p_sample_loop");  // x_T ~ N(0, I): [B, C, H, W]
  const std::vector<bool> snap = snapshot_steps(steps, opts.num_progress);
  SampleResult r;
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = first - k;  // Algorithm 2: for t = T, ..., 1
    Tensor pred_x0;
    x = p_sample(model, x, full({shape[0]}, double(t), TensorOptions(DType::Int64, x.device())), gen,
                 opts.clip_denoised, &pred_x0, opts);
    if (snap[size_t(k)]) {
      r.progress.push_back(pred_x0);
      r.progress_t.push_back(t);
    }
    if (opts.on_step) opts.on_step(k + 1, steps);
  }
  r.x0 = x;
  return r;
}

std::vector<int64_t> GaussianDiffusion::ddim_timesteps(int64_t S, int64_t last_t) const {
  if (last_t >= T())
    throw std::invalid_argument("ddim_timesteps: the last timestep is " + std::to_string(last_t) +
                                ", expected < T = " + std::to_string(T()));
  const int64_t last = last_t < 0 ? T() - 1 : last_t;
  if (S < 1 || S > last + 1)
    throw std::invalid_argument("ddim_timesteps: S is " + std::to_string(S) + ", expected 1 <= S <= " +
                                (last_t < 0 ? "T = " : "start + 1 = ") + std::to_string(last + 1));
  // tau_i = round(i last/(S-1)) as numpy's linspace (i * step, the final one exactly last) and round (half to even).
  std::vector<int64_t> tau(size_t(S), 0);
  const double step = S > 1 ? double(last) / double(S - 1) : 0.0;
  for (int64_t i = 0; i < S; ++i) tau[size_t(S - 1 - i)] = int64_t(std::nearbyint(double(i) * step));
  tau[0] = last;  // S = 1: the one step from x_last (linspace's 0 would start a chain at x_0)
  return tau;
}

SampleResult GaussianDiffusion::ddim_sample_loop(const DenoiseModel& model, const Shape& shape, int64_t S, double eta,
                                                 Generator& gen, const SampleOptions& opts) const {
  NoGradGuard no_grad;
  if (!(eta >= 0.0) || !std::isfinite(eta))
    throw std::invalid_argument("ddim_sample_loop: eta is " + std::to_string(eta) + ", expected eta >= 0");
  const std::vector<int64_t> tau = ddim_timesteps(S, opts.start_step < 0 ? -1 : first_step(opts, "ddim_sample_loop"));
  Tensor x = start_noise(shape, gen, opts, "ddim_sample_loop");  // x_T: [B, C, H, W]
  const std::vector<bool> snap = snapshot_steps(S, opts.num_progress);
  const auto& abar = sched_.alphas_cumprod;
  SampleResult r;
  for (int64_t i = 0; i < S; ++i) {
    const int64_t t = tau[size_t(i)];
    const double a = abar[size_t(t)];
    // t for every sample, filled on x's device (no copy from the host)
    const Steps st{full({shape[0]}, double(t), TensorOptions(DType::Int64, x.device()))};
    const Tensor model_t = model_timesteps(st);
    PMeanVariance p = p_mean_variance_at(model(x, model_t), x, st, opts.clip_denoised, "ddim_sample_loop");
    if (opts.cond_fn) {
      // Classifier guidance (Dhariwal & Nichol 2021, Algorithm 2): eps - sqrt(1 - abar_t) s grad log p(y | x_t)
      p.pred_eps = p.pred_eps - std::sqrt(1.0 - a) * opts.cond_fn(x, model_t);
      p.pred_x0 = predict_x0_from_eps_at(x, st, p.pred_eps);
    }
    // Song et al. 2021 eq. 16: sigma = eta sqrt((1 - abar_prev) / (1 - abar)) sqrt(1 - abar / abar_prev)
    // BEGIN SOLUTION ddim_step
    const double a_prev = i + 1 < S ? abar[size_t(tau[size_t(i + 1)])] : 1.0;  // the last step lands on x0
    const double sigma = eta * std::sqrt((1.0 - a_prev) / (1.0 - a)) * std::sqrt(1.0 - a / a_prev);
    // eq. 12: x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z
    const double dir = std::sqrt(std::max(0.0, 1.0 - a_prev - sigma * sigma));
    x = std::sqrt(a_prev) * p.pred_x0 + dir * p.pred_eps;
    Shape noise_shape = x.shape();
    if (opts.shared_noise) noise_shape[0] = 1;  // one draw, broadcast over the rows
    if (sigma > 0.0) x = x + sigma * randn(noise_shape, TensorOptions(x.dtype(), x.device()), &gen);
    // END SOLUTION
    if (snap[size_t(i)]) {
      r.progress.push_back(p.pred_x0);
      r.progress_t.push_back(t);
    }
    if (opts.on_step) opts.on_step(i + 1, S);
  }
  r.x0 = x;
  return r;
}

// ---- the variational bound, in bits per dimension ---------------------------------------------------

Tensor GaussianDiffusion::prior_bpd(const Tensor& x0) const {
  if (!x0.defined() || x0.dim() < 2) throw std::invalid_argument("prior_bpd: x0 must be [B, C, H, W]");
  return prior_bpd_at(x0);
}

Tensor GaussianDiffusion::prior_bpd_at(const Tensor& x0) const {
  // L_T = KL(q(x_T | x0) || N(0, I)) (eq. 5), q(x_T | x0) = N(sqrt(abar_T) x0, (1 - abar_T) I) (eq. 4)
  Tensor last = full({x0.size(0)}, double(T() - 1), TensorOptions(DType::Int64, x0.device()));
  const Steps s{last};
  Tensor mean = coef(kSqrtAlphasCumprod, s, x0) * x0;
  Tensor log_variance = 2.0 * log(coef(kSqrtOneMinusAlphasCumprod, s, x0));  // log(1 - abar_T)
  Tensor zero = zeros({}, TensorOptions(x0.dtype(), x0.device()));
  return mean_flat(normal_kl(mean, log_variance, zero, zero)) / std::log(2.0);
}

Tensor GaussianDiffusion::vb_terms_bpd(const DenoiseModel& model, const Tensor& x0, const Tensor& x_t, const Tensor& t,
                                       bool clip_denoised, Tensor* pred_x0) const {
  check_same_shape("vb_terms_bpd", "x_t", x_t, "x0", x0);
  const Steps s = steps_of(t, x_t, "vb_terms_bpd");
  PMeanVariance p = p_mean_variance_at(model(x_t, model_timesteps(s)), x_t, s, clip_denoised, "vb_terms_bpd");
  if (pred_x0) *pred_x0 = p.pred_x0;
  return vb_terms_bpd_at(p, x0, x_t, s);
}

Tensor GaussianDiffusion::kl_bpd_at(const PMeanVariance& p, const Tensor& x0, const Tensor& x_t, const Steps& s) const {
  // t > 0: L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)) (eq. 5), both Gaussian (eqs. 6-7)
  // BEGIN SOLUTION kl_bpd
  Posterior q = q_posterior_at(x0, x_t, s);
  return mean_flat(normal_kl(q.mean, q.log_variance, p.mean, p.log_variance)) / std::log(2.0);  // [B]
  // END SOLUTION
}

Tensor GaussianDiffusion::decoder_nll_bpd_at(const PMeanVariance& p, const Tensor& x0) const {
  // t = 0: L_0 = -log p_theta(x0 | x_1), the discretized decoder (eq. 13), scale sigma_1 = exp(log_var / 2)
  return -mean_flat(discretized_gaussian_log_likelihood(x0, p.mean, 0.5 * p.log_variance)) / std::log(2.0);  // [B]
}

Tensor GaussianDiffusion::vb_terms_bpd_at(const PMeanVariance& p, const Tensor& x0, const Tensor& x_t,
                                          const Steps& s) const {
  return where(ops::eq(s.t, 0.0), decoder_nll_bpd_at(p, x0), kl_bpd_at(p, x0, x_t, s));
}

BpdResult GaussianDiffusion::calc_bpd_loop(const DenoiseModel& model, const Tensor& x0, Generator& gen,
                                           bool clip_denoised,
                                           const std::function<void(int64_t, int64_t)>& on_step) const {
  NoGradGuard no_grad;
  if (!x0.defined() || x0.dim() < 2 || x0.size(0) < 1)
    throw std::invalid_argument("calc_bpd_loop: x0 must be [B, C, H, W] with B >= 1");
  const int64_t B = x0.size(0);
  const size_t steps = static_cast<size_t>(T());
  std::vector<Tensor> vb(steps), xstart_mse(steps), mse(steps);  // each [B], by t
  for (int64_t k = 0; k < T(); ++k) {
    const int64_t t = T() - 1 - k;  // from T-1 down to 0, as improved-diffusion
    const Steps s{full({B}, double(t), TensorOptions(DType::Int64, x0.device()))};
    Tensor noise = randn(x0.shape(), TensorOptions(x0.dtype(), x0.device()), &gen);
    Tensor x_t = q_sample_at(x0, s, noise);
    PMeanVariance p = p_mean_variance_at(model(x_t, model_timesteps(s)), x_t, s, clip_denoised, "calc_bpd_loop");
    // every sample is at this t: only its own term is computed (vb_terms_bpd_at would make both)
    vb[size_t(t)] = t == 0 ? decoder_nll_bpd_at(p, x0) : kl_bpd_at(p, x0, x_t, s);
    xstart_mse[size_t(t)] = mean_flat(pow(p.pred_x0 - x0, 2.0));
    mse[size_t(t)] = mean_flat(pow(predict_eps_from_x0_at(x_t, s, p.pred_x0) - noise, 2.0));
    if (on_step) on_step(k + 1, T());
  }
  BpdResult r;
  r.vb = stack(vb, 1);  // [B, T]
  r.xstart_mse = stack(xstart_mse, 1);
  r.mse = stack(mse, 1);
  r.prior_bpd = prior_bpd_at(x0);
  r.total_bpd = sum(r.vb, {1}) + r.prior_bpd;
  return r;
}

// ---- training ------------------------------------------------------------------------------------

Tensor GaussianDiffusion::training_target(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
  check_same_shape("training_target", "x0", x0, "noise", noise);
  return training_target_at(x0, steps_of(t, x0, "training_target"), noise);
}

Tensor GaussianDiffusion::training_target_at(const Tensor& x0, const Steps& s, const Tensor& noise) const {
  switch (config_.objective) {
    case Objective::Eps: return noise;
    case Objective::X0: return x0;
    case Objective::V: return v_from_x0_eps_at(x0, s, noise);
  }
  return Tensor();
}

Tensor GaussianDiffusion::training_losses(const DenoiseModel& model, const Tensor& x0, Generator& gen) const {
  if (!x0.defined() || x0.dim() < 1 || x0.size(0) < 1)
    throw std::invalid_argument("training_losses: x0 must be [B, C, H, W] with B >= 1");
  // Algorithm 1, lines 3-4, drawn on x0's device (Philox gives the same numbers on every device).
  // BEGIN SOLUTION algorithm1_draws
  Tensor t = randint(0, T(), {x0.size(0)}, TensorOptions(DType::Int64, x0.device()), &gen);  // [B]
  Tensor noise = randn(x0.shape(), TensorOptions(x0.dtype(), x0.device()), &gen);             // [B, C, H, W]
  return training_losses(model, x0, t, noise);
  // END SOLUTION
}

Tensor GaussianDiffusion::training_losses(const DenoiseModel& model, const Tensor& x0, const Tensor& t,
                                          const Tensor& noise) const {
  return training_loss_terms(model, x0, t, noise).loss;
}

LossTerms GaussianDiffusion::training_loss_terms(const DenoiseModel& model, const Tensor& x0, const Tensor& t,
                                                 const Tensor& noise) const {
  check_same_shape("training_losses", "x0", x0, "noise", noise);
  const Steps s = steps_of(t, x0, "training_losses");
  Tensor x_t, target;
  {
    NoGradGuard constants;  // the data, the noise and the target are constants; only the model learns
    x_t = q_sample_at(x0, s, noise);
    target = detach(training_target_at(x0, s, noise));
  }
  Tensor out = model(x_t, model_timesteps(s));  // [B, C, H, W], or [B, 2C, H, W] with learned variances
  LossTerms r;
  if (config_.loss == LossType::Simple) {
    check_same_shape("training_losses", "x0", x0, "the model output", out);
    // eq. 14: L_simple = E || target - f_theta(x_t, t) ||^2, averaged over every element
    // BEGIN SOLUTION l_simple
    r.loss = mse_loss(out, target);
    // END SOLUTION
    return r;
  }
  const int64_t C = x0.size(1);
  if (out.dim() != x0.dim() || out.size(1) != config_.model_output_channels(C))
    throw std::invalid_argument("training_losses: the model output is " + describe(out) + ", expected " +
                                std::to_string(config_.model_output_channels(C)) + " channels for x0 " +
                                shape_str(x0.shape()) + " (" + to_string(config_.variance) + " variances)");
  Tensor prediction = config_.learns_variance() ? narrow(out, 1, 0, C) : out;  // [B, C, H, W]
  // The hybrid loss's L_vlb sees the prediction detached (Nichol & Dhariwal 2021, Sec. 3.1): it trains
  // only v. With the vlb loss alone every output channel learns from it.
  Tensor for_vlb = out;
  if (config_.loss == LossType::Hybrid) for_vlb = cat({detach(prediction), narrow(out, 1, C, C)}, 1);
  r.vb = vb_terms_bpd_at(p_mean_variance_at(for_vlb, x_t, s, /*clip_denoised=*/false, "training_losses"), x0, x_t, s);  // [B]
  // T L_t estimates L_vlb = sum_t L_t (t uniform); lambda weighs it in the hybrid loss.
  const double scale = double(T());
  if (config_.loss == LossType::Hybrid) {
    r.mse = mean_flat(pow(prediction - target, 2.0));
    r.per_sample = r.mse + (config_.vlb_weight * scale) * r.vb;
  } else {
    r.per_sample = scale * r.vb;
  }
  r.loss = mean(r.per_sample);
  return r;
}

}  // namespace ddpm
